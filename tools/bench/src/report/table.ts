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
 * One line of a comparison of Berth with itself under two conditions (auth off and on; no
 * webhook subscriptions and three): a metric of a scenario under both.
 */
export interface PairReportRow {
  /** Printed on the first row of each scenario only. */
  readonly scenario: string;
  readonly metric: string;
  /** The baseline condition (auth off, no subscriptions). */
  readonly base: number | null;
  /** The condition under test (auth on, three subscriptions); null when it did not run. */
  readonly other: number | null;
  readonly better: Better;
  /** What the issue asks for, e.g. `≥0.90×`, and whether the condition under test met it. */
  readonly target: { readonly text: string; readonly met: boolean | null } | null;
}

/** The column titles of a pair table, e.g. `auth off`, `auth on`, `on vs off`. */
export interface PairColumns {
  readonly base: string;
  readonly other: string;
  readonly ratio: string;
}

/**
 * Berth's advantage: Berth ÷ Distribution where higher is better, Distribution ÷ Berth where lower
 * is better, so a value above 1 always means Berth did better. Null when either side is missing.
 */
export function advantage(row: Pick<ReportRow, 'berth' | 'distribution' | 'better'>): number | null {
  return relative(row.better, row.berth, row.distribution);
}

/**
 * The condition under test relative to the baseline, oriented like {@link advantage}: other ÷ base
 * where higher is better, base ÷ other where lower is better, so below 1 is what the condition costs.
 */
export function pairRatio(row: Pick<PairReportRow, 'base' | 'other' | 'better'>): number | null {
  return relative(row.better, row.other, row.base);
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

/** Renders baseline versus condition-under-test rows as an aligned plain-text table. */
export function renderPairTable(rows: readonly PairReportRow[], columns: PairColumns): string {
  const header = ['scenario', 'metric', columns.base, columns.other, columns.ratio, 'target'];
  const right = [false, false, true, true, true, false];
  const body = rows.map((row, i) => [
    row.scenario === rows[i - 1]?.scenario ? '' : row.scenario,
    row.metric,
    formatNumber(row.base),
    formatNumber(row.other),
    formatRatio(pairRatio(row)),
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
