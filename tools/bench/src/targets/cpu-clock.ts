import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of `/proc/<pid>/stat`'s times (`getconf CLK_TCK`; 100 on Linux). */
let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** A process's name and its CPU times in clock ticks, from `/proc/<pid>/stat`; null if it cannot be read. */
interface ProcessTimes {
  readonly name: string;
  readonly utime: number;
  readonly stime: number;
  /** The times of its children that ended and were reaped. */
  readonly cutime: number;
  readonly cstime: number;
}

function processTimes(pid: number | string): ProcessTimes | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces; the fields after it are space-separated.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime and cstime: fields 14 to 17 of the whole line, 12 to 15 after the name.
  return {
    name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    utime: Number(fields[11]),
    stime: Number(fields[12]),
    cutime: Number(fields[13]),
    cstime: Number(fields[14]),
  };
}

/**
 * CPU time (user + system, in milliseconds) that the process `pid` has used so far, from `/proc`
 * (Linux only); null when it cannot be read. Two readings around a run give the CPU the run cost
 * the process, whatever else shares the machine.
 */
export function cpuMs(pid: number): number | null {
  const times = processTimes(pid);
  if (times === null) return null;
  const ticks = times.utime + times.stime;
  return Number.isFinite(ticks) ? (ticks * 1000) / clockTicks() : null;
}

/**
 * CPU time (user + system, in milliseconds) that every process named one of `names` (such as the
 * machine's `postgres` and `nats-server`) has used so far, with that of their children that
 * ended (a PostgreSQL backend's, once the postmaster reaped it); null where `/proc` cannot be read.
 */
export function cpuMsOfNamed(names: readonly string[]): number | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^[0-9]+$/.test(entry));
  } catch {
    return null;
  }
  let ticks = 0;
  for (const pid of entries) {
    // A process that ended meanwhile cannot be read, and is left out.
    const times = processTimes(pid);
    if (times === null || !names.includes(times.name)) continue;
    ticks += times.utime + times.stime + times.cutime + times.cstime;
  }
  return Number.isFinite(ticks) ? (ticks * 1000) / clockTicks() : null;
}
