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

/** One line of the auth comparison: a metric of a scenario for Berth with token auth off and on. */
export interface AuthReportRow {
  /** Printed on the first row of each scenario only. */
  readonly scenario: string;
  readonly metric: string;
  readonly off: number | null;
  /** Null when the auth-on Berth did not run the scenario. */
  readonly on: number | null;
  readonly better: Better;
  /** What the issue asks for, e.g. `≥0.90×`, and whether auth on met it. */
  readonly target: { readonly text: string; readonly met: boolean | null } | null;
}

/**
 * Berth's advantage: Berth ÷ Distribution where higher is better, Distribution ÷ Berth where lower
 * is better, so a value above 1 always means Berth did better. Null when either side is missing.
 */
export function advantage(row: Pick<ReportRow, 'berth' | 'distribution' | 'better'>): number | null {
  return relative(row.better, row.berth, row.distribution);
}

/**
 * Berth with auth on relative to auth off, oriented like {@link advantage}: on ÷ off where higher
 * is better, off ÷ on where lower is better, so below 1 is what auth costs.
 */
export function authRatio(row: Pick<AuthReportRow, 'off' | 'on' | 'better'>): number | null {
  return relative(row.better, row.on, row.off);
}

/** `value` against `baseline`, above 1 when `value` is better; null when either is missing. */
function relative(better: Better, value: number | null, baseline: number | null): number | null {
  if (value === null || baseline === null || value <= 0 || baseline <= 0) return null;
  return better === 'higher' ? value / baseline : baseline / value;
}

/** Renders the rows as an aligned plain-text table; drops the comparison columns without Distribution. */
export function renderTable(rows: readonly ReportRow[], withDistribution: boolean): string {
  const header = withDistribution
    ? ['scenario', 'metric', 'Berth', 'Distribution', 'ratio', 'target']
    : ['scenario', 'metric', 'Berth', 'target'];
  const right = withDistribution ? [false, false, true, true, true, false] : [false, false, true, false];
  const body = rows.map((row, i) => {
    const scenario = row.scenario === rows[i - 1]?.scenario ? '' : row.scenario;
    const target = formatTarget(row.target);
    return withDistribution
      ? [
          scenario,
          row.metric,
          formatNumber(row.berth),
          formatNumber(row.distribution),
          formatRatio(advantage(row)),
          target,
        ]
      : [scenario, row.metric, formatNumber(row.berth), target];
  });
  return align(header, right, body);
}

/** Renders the auth-off versus auth-on rows as an aligned plain-text table. */
export function renderAuthTable(rows: readonly AuthReportRow[]): string {
  const header = ['scenario', 'metric', 'auth off', 'auth on', 'on vs off', 'target'];
  const right = [false, false, true, true, true, false];
  const body = rows.map((row, i) => [
    row.scenario === rows[i - 1]?.scenario ? '' : row.scenario,
    row.metric,
    formatNumber(row.off),
    formatNumber(row.on),
    formatRatio(authRatio(row)),
    formatTarget(row.target),
  ]);
  return align(header, right, body);
}

/** Pads every column to its widest cell; `right[col]` right-aligns a column. */
function align(header: readonly string[], right: readonly boolean[], body: readonly string[][]): string {
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

function formatTarget(target: ReportRow['target']): string {
  return target === null ? '' : `${target.text} ${mark(target.met)}`;
}

function mark(met: boolean | null): string {
  if (met === null) return '?';
  return met ? 'ok' : 'MISSED';
}
