/** Which registry a column of the report belongs to. */
export type TargetName = 'Berth' | 'Distribution';

/** A registry the bench talks to, started by the bench or already running. */
export interface RunningTarget {
  readonly name: TargetName;
  /** Base URL without a trailing slash. */
  readonly url: string;
  /** The process whose memory is sampled, when known. */
  readonly pid: number | null;
  /** A one-line description for the report header. */
  readonly description: string;
  /** Stops the registry if the bench started it; a no-op for external registries. */
  stop(): Promise<void>;
}
