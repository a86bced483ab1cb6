import type { Better } from '../scenarios/scenario';

/** One line of the comparison: a metric of a scenario for both registries. */
export interface ReportRow {
  /** Printed on the first row of each scenario only. */
  readonly scenario: string;
  readonly metric: string;
  readonly berth: number | null;
  /** Null when Distribution did not run. */
  readonly distribution: number | null;
  readonly better: Better;
  /** What the issue asks for, e.g. `≥2.0×` or `≤300 MB`, and whether Berth met it. */
  readonly target: { readonly text: string; readonly met: boolean | null } | null;
}

/**
 * Berth's advantage: Berth ÷ Distribution where higher is better, Distribution ÷ Berth where lower
 * is better, so a value above 1 always means Berth did better. Null when either side is missing.
 */
export function advantage(row: Pick<ReportRow, 'berth' | 'distribution' | 'better'>): number | null {
  const { berth, distribution } = row;
  if (berth === null || distribution === null || berth <= 0 || distribution <= 0) return null;
  return row.better === 'higher' ? berth / distribution : distribution / berth;
}

/** Renders the rows as an aligned plain-text table; drops the comparison columns without Distribution. */
export function renderTable(rows: readonly ReportRow[], withDistribution: boolean): string {
  const header = withDistribution
    ? ['scenario', 'metric', 'Berth', 'Distribution', 'ratio', 'target']
    : ['scenario', 'metric', 'Berth', 'target'];
  const right = withDistribution ? [false, false, true, true, true, false] : [false, false, true, false];
  const body: string[][] = [];
  let lastScenario = '';
  for (const row of rows) {
    const scenario = row.scenario === lastScenario ? '' : row.scenario;
    lastScenario = row.scenario;
    const ratio = advantage(row);
    const target = row.target === null ? '' : `${row.target.text} ${mark(row.target.met)}`;
    body.push(
      withDistribution
        ? [
            scenario,
            row.metric,
            formatNumber(row.berth),
            formatNumber(row.distribution),
            formatRatio(ratio),
            target,
          ]
        : [scenario, row.metric, formatNumber(row.berth), target],
    );
  }
  const widths = header.map((title, col) =>
    Math.max(title.length, ...body.map((cells) => (cells[col] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, col) => {
        const width = widths[col] ?? 0;
        return right[col] === true ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...body.map(line)].join('\n');
}

/** Rounds to a precision that suits the magnitude; `n/a` for missing values. */
export function formatNumber(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function formatRatio(ratio: number | null): string {
  return ratio === null ? 'n/a' : `${ratio.toFixed(2)}×`;
}

function mark(met: boolean | null): string {
  if (met === null) return '?';
  return met ? 'ok' : 'MISSED';
}
