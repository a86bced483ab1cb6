import { createHash } from 'node:crypto';
import { RevocableCache } from '@berth/cache';
import { subjectOf, type Identity } from '../model';

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
  private readonly known: RevocableCache<Identity>;

  constructor(maxAgeMs: number) {
    this.known = new RevocableCache({ capacity: 10_000, maxAgeMs, subjectOf });
  }

  /** The identity these credentials proved, if they were checked recently and not revoked since. */
  get(username: string, password: string): Identity | null {
    return this.known.get(keyOf(username, password));
  }

  /**
   * Keeps what a successful check proved; `checkedAt` is when the check began, so that a revocation
   * during the check wins.
   */
  remember(username: string, password: string, identity: Identity, checkedAt: number): void {
    if (identity.kind === 'workload' || identity.kind === 'anonymous') return;
    this.known.set(keyOf(username, password), identity, checkedAt);
  }

  /** Forgets every login of a subject from now on. */
  revoke(subject: string): void {
    this.known.revoke(subject);
  }
}

function keyOf(username: string, password: string): string {
  // The length first, so that no other split of the same bytes makes the same key.
  return createHash('sha256').update(`${username.length}:${username}`).update(password).digest('base64url');
}
