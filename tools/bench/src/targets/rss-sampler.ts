import { readdirSync, readFileSync } from 'node:fs';

/** How often resident memory is sampled. */
const SAMPLE_INTERVAL_MS = 100;

/**
 * Samples the resident set size of a process and all its descendants from `/proc` (Linux only):
 * the sum of `VmRSS` over the tree, so a registry that forks workers is measured whole. Keeps the
 * first and the peak sample. A process that has gone away contributes nothing.
 */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private peak = 0;
  private first: number | null = null;

  constructor(readonly pid: number) {}

  /** Takes a sample now and then every {@link SAMPLE_INTERVAL_MS} until {@link stop}. */
  start(): void {
    this.sample();
    this.timer = setInterval(() => {
      this.sample();
    }, SAMPLE_INTERVAL_MS);
    // Sampling must never keep the bench alive on its own.
    this.timer.unref();
  }

  /** Takes a last sample and stops. */
  stop(): void {
    if (this.timer === undefined) return;
    this.sample();
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The highest sampled RSS in bytes, or null when nothing could be read. */
  get peakBytes(): number | null {
    return this.first === null ? null : this.peak;
  }

  /** The RSS when sampling started (before any scenario), or null when it could not be read. */
  get startBytes(): number | null {
    return this.first;
  }

  private sample(): void {
    const bytes = treeRss(this.pid);
    if (bytes === null) return;
    this.first ??= bytes;
    if (bytes > this.peak) this.peak = bytes;
  }
}

/** Sum of VmRSS (bytes) of `pid` and its descendants, or null when `pid` is not readable. */
function treeRss(pid: number): number | null {
  const own = vmRss(pid);
  if (own === null) return null;
  let total = own;
  for (const child of children(pid)) total += treeRss(child) ?? 0;
  return total;
}

function vmRss(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return match?.[1] === undefined ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

/** Direct children of `pid`, collected over all its threads. */
function children(pid: number): number[] {
  try {
    const pids: number[] = [];
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const list = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (list !== '') pids.push(...list.split(/\s+/).map(Number));
    }
    return pids;
  } catch {
    return [];
  }
}
