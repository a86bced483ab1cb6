import type { StartBerthOptions } from '@berth/testing';

/**
 * The shapes every end-to-end test runs against: the all-in-one with its embedded defaults, and
 * the distributed services over NATS and PostgreSQL (on S3, so both drivers meet real clients).
 */
export const SHAPES: readonly (StartBerthOptions & { readonly label: string })[] = [
  { label: 'all-in-one (PGlite, filesystem, in-process bus)', shape: 'all-in-one', storage: 'filesystem' },
  { label: 'distributed (PostgreSQL, NATS, S3)', shape: 'distributed', storage: 's3' },
];
