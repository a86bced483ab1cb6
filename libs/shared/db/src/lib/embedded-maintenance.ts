import type { SqlExecutor } from './migrations';

/**
 * The tables due, by autovacuum's default thresholds: dead rows past 50 + 20 % of the live ones,
 * rows changed since the last analyze past 50 + 10 %, or rows inserted since the last vacuum past
 * 1,000 + 20 % (so that the visibility map keeps up and index-only scans stay cheap). Most
 * changed first.
 */
const DUE_TABLES = `
  SELECT format('%I.%I', schemaname, relname) AS name FROM pg_stat_user_tables
  WHERE n_dead_tup > 50 + 0.2 * n_live_tup
     OR n_mod_since_analyze > 50 + 0.1 * n_live_tup
     OR n_ins_since_vacuum > 1000 + 0.2 * n_live_tup
  ORDER BY n_dead_tup + n_mod_since_analyze DESC`;

/**
 * What autovacuum does for a PostgreSQL server, done for the embedded PGlite, which has no
 * background workers: now and then, every table that changed enough is vacuumed and analyzed.
 * Without it, dead rows are never reclaimed (tables and indexes grow with every update, and
 * scans wade through old versions) and the planner keeps the statistics of empty tables, which
 * is how a plan kept for the session ended up reading every webhook delivery at every pass.
 *
 * It runs on the database's one connection between other statements, one table at a time; a
 * vacuum reads only the pages changed since the last one, so each run is short.
 */
export class EmbeddedMaintenance {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly db: SqlExecutor,
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void,
    /** Told after each background run, with the tables it vacuumed. */
    private readonly onRun: (vacuumed: readonly string[]) => void = () => undefined,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running !== null) return;
      this.running = this.run()
        .then((vacuumed) => {
          this.onRun(vacuumed);
        })
        .catch((error: unknown) => {
          if (!this.stopped) this.onError(error);
        })
        .finally(() => {
          this.running = null;
        });
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops, after the table being vacuumed (if any). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Vacuums and analyzes every table that is due; returns their names, in the order done. */
  async run(): Promise<string[]> {
    // PGlite reports a session's table statistics only when told to.
    await this.db.query('SELECT pg_stat_force_next_flush()');
    const due = await this.db.query<{ name: string }>(DUE_TABLES);
    const done: string[] = [];
    for (const { name } of due) {
      if (this.stopped) break;
      await this.db.exec(`VACUUM (ANALYZE) ${name}`);
      done.push(name);
    }
    return done;
  }
}
