import { createHash } from 'node:crypto';
import { LruCache } from '@berth/cache';
import { subjectOf, type Identity } from '../model';

/** How many callers {@link BasicLogins} keeps at most. */
const CAPACITY = 10_000;

/**
 * Management API callers whose Basic credentials auth checked a moment ago. A script that calls
 * the API in a loop with Basic credentials then pays one password check per
 * `auth.basicCacheSeconds` instead of one per call: for a local user that check is a scrypt
 * derivation, 32 MiB and tens of milliseconds of a core. Like the gateway's cache for `/v2/`, it
 * is keyed by a hash of the credentials and holds no password; a revoked subject (password
 * changed, account deleted, robot rotated or removed) is forgotten at once, on the
 * `SubjectRevoked` broadcast. CI workloads, whose ID tokens expire, are never kept.
 */
export class BasicLogins {
  private readonly known: LruCache<string, { readonly identity: Identity; readonly checkedAt: number }>;
  private readonly revokedAt = new Map<string, number>();

  constructor(private readonly maxAgeMs: number) {
    this.known = new LruCache(CAPACITY, maxAgeMs);
  }

  /** The identity these credentials proved, if they were checked recently and not revoked since. */
  get(username: string, password: string): Identity | null {
    if (this.maxAgeMs <= 0) return null;
    const entry = this.known.get(keyOf(username, password));
    if (entry === undefined) return null;
    const revoked = this.revokedAt.get(subjectOf(entry.identity)) ?? 0;
    return entry.checkedAt > revoked ? entry.identity : null;
  }

  /**
   * Keeps what a successful check proved; `checkedAt` is when the check began, so that a revocation
   * during the check wins.
   */
  remember(username: string, password: string, identity: Identity, checkedAt: number): void {
    if (this.maxAgeMs <= 0 || identity.kind === 'workload' || identity.kind === 'anonymous') return;
    this.known.set(keyOf(username, password), { identity, checkedAt });
  }

  /** Forgets every login of a subject from now on. */
  revoke(subject: string): void {
    this.revokedAt.delete(subject);
    this.revokedAt.set(subject, Date.now());
    if (this.revokedAt.size > CAPACITY) this.revokedAt.delete(this.revokedAt.keys().next().value ?? '');
  }
}

function keyOf(username: string, password: string): string {
  // The length first, so that no other split of the same bytes makes the same key.
  return createHash('sha256').update(`${username.length}:${username}`).update(password).digest('base64url');
}
