import type { ProjectRole, RobotPermission } from '@berth/auth-core';

/** Where a user signs in. */
export type AccountSource = 'local' | 'ldap' | 'oidc';

/** A person's account (never with its password hash). */
export interface User {
  readonly username: string;
  readonly email: string | null;
  readonly admin: boolean;
  readonly source: AccountSource;
  /** Directory groups seen at the last LDAP or OIDC login. */
  readonly groups: readonly string[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A project: the first segment of its repositories' names. */
export interface Project {
  readonly name: string;
  readonly public: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Whether a member is a user or a directory group. */
export type MemberKind = 'user' | 'group';

/** A user or group with a role in a project. */
export interface Member {
  readonly kind: MemberKind;
  readonly name: string;
  readonly role: ProjectRole;
  readonly createdAt: Date;
}

/** A robot account (never with its secret hash). */
export interface Robot {
  readonly name: string;
  readonly description: string | null;
  readonly permissions: readonly RobotPermission[];
  readonly expiresAt: Date | null;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** The prefix of a robot's login name: robot `ci` signs in as `robot$ci`. */
export const ROBOT_PREFIX = 'robot$';

/**
 * The prefix of the subject of a CI job that exchanged an OIDC ID token under a trust rule: the
 * rule naming robot `deploy` gives tokens for `oidc$deploy`. Such an identity lives only as long
 * as its registry tokens; nothing of it is stored.
 */
export const WORKLOAD_PREFIX = 'oidc$';

/**
 * Who a request speaks for, once its credentials were checked: nobody, a user (with the groups
 * that may carry project roles), a robot, or a CI workload that proved itself with an ID token.
 */
export type Identity =
  | { readonly kind: 'anonymous' }
  | {
      readonly kind: 'user';
      readonly username: string;
      readonly admin: boolean;
      readonly groups: readonly string[];
    }
  | { readonly kind: 'robot'; readonly name: string; readonly permissions: readonly RobotPermission[] }
  | {
      readonly kind: 'workload';
      /** The robot name of the trust rule that let it in. */
      readonly name: string;
      readonly permissions: readonly RobotPermission[];
    };

/** The token `sub` of an identity: empty for anonymous (as the token spec has it). */
export function subjectOf(identity: Identity): string {
  switch (identity.kind) {
    case 'anonymous':
      return '';
    case 'user':
      return identity.username;
    case 'robot':
      return `${ROBOT_PREFIX}${identity.name}`;
    case 'workload':
      return `${WORKLOAD_PREFIX}${identity.name}`;
  }
}

/** One audit record. */
export interface AuditEntry {
  readonly id: string;
  readonly occurredAt: Date;
  readonly actor: string;
  readonly sourceAddress: string | null;
  readonly action: string;
  readonly resource: string | null;
  readonly outcome: AuditOutcome;
  readonly detail: unknown;
}

/** How an audited attempt ended. */
export type AuditOutcome = 'success' | 'failure' | 'denied';
