import type { BasicCredentials } from '../config/bench.config';

/** Which registry a column of the report belongs to. */
export type TargetName =
  | 'Berth'
  | 'Berth (auth on)'
  | 'Berth (webhooks, all-in-one)'
  | 'Berth (webhooks, distributed)'
  | 'Distribution';

/** A registry the bench talks to, started by the bench or already running. */
export interface RunningTarget {
  readonly name: TargetName;
  /** One lower-case path component naming the target in repository names, e.g. `berth`. */
  readonly slug: string;
  /** Base URL without a trailing slash. */
  readonly url: string;
  /** The process whose memory is sampled, when known. */
  readonly pid: number | null;
  /** A one-line description for the report header. */
  readonly description: string;
  /** What the bench logs in with to get Bearer tokens; null when the registry needs no auth. */
  readonly credentials: BasicCredentials | null;
  /** Stops the registry if the bench started it; a no-op for external registries. */
  stop(): Promise<void>;
}
