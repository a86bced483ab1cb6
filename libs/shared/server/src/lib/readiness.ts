/** A check that must pass for the process to be ready for traffic. */
export type ReadinessProbe = () => Promise<void>;

/**
 * The readiness checks of one process. Modules add theirs at init (database reachable, bus
 * connected); `/readyz` runs them all.
 */
export class Readiness {
  private readonly probes = new Map<string, ReadinessProbe>();

  /** Adds a named check. */
  add(name: string, probe: ReadinessProbe): void {
    this.probes.set(name, probe);
  }

  /** Runs every check and reports each one's outcome. */
  async check(): Promise<{ ready: boolean; checks: Record<string, string> }> {
    const checks: Record<string, string> = {};
    let ready = true;
    await Promise.all(
      [...this.probes].map(async ([name, probe]) => {
        try {
          await probe();
          checks[name] = 'ok';
        } catch (error) {
          ready = false;
          checks[name] = error instanceof Error ? error.message : String(error);
        }
      }),
    );
    return { ready, checks };
  }
}
