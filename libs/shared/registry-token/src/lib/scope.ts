import { isRepositoryName } from '@berth/oci';

/** An action on a repository, or `*` (all of them, as `registry:catalog:*` uses it). */
export type Action = 'pull' | 'push' | 'delete' | '*';

const ACTIONS: readonly Action[] = ['pull', 'push', 'delete', '*'];

/**
 * One resource scope of the Docker registry token spec, `type:name:action[,action…]`: the
 * access a client asks for, and (as the token's `access` claim) the access it was granted.
 */
export interface ResourceScope {
  readonly type: 'repository' | 'registry';
  readonly name: string;
  readonly actions: readonly Action[];
}

/** A scope string broke the grammar; `scope` is the offending part, cut short. */
export class ScopeError extends Error {
  override readonly name = 'ScopeError';
  constructor(
    readonly scope: string,
    reason: string,
  ) {
    super(`invalid scope "${scope}": ${reason}`);
  }
}

/**
 * Parses one `scope` parameter, which may hold several space-separated scopes. The name sits
 * between the first and the last colon, so a name with a colon in it (`localhost:5000/app`, a
 * host:port that clients sometimes leave in) is read whole and then refused, like any other name
 * that is not a valid repository name. Unknown actions are dropped, as the spec allows; a scope
 * with no known action left, an unknown resource type, or any other garbage is a
 * {@link ScopeError}.
 */
export function parseScopes(value: string): ResourceScope[] {
  return value
    .split(' ')
    .filter((part) => part !== '')
    .map(parseScope);
}

function parseScope(raw: string): ResourceScope {
  const shown = raw.length > 300 ? `${raw.slice(0, 300)}…` : raw;
  const first = raw.indexOf(':');
  const last = raw.lastIndexOf(':');
  if (first <= 0 || last === first) throw new ScopeError(shown, 'expected type:name:actions');
  const type = raw.slice(0, first);
  const name = raw.slice(first + 1, last);
  const actions = [...new Set(raw.slice(last + 1).split(','))].filter((a): a is Action =>
    (ACTIONS as readonly string[]).includes(a),
  );
  if (actions.length === 0) throw new ScopeError(shown, 'no known action');
  if (type === 'repository') {
    if (!isRepositoryName(name)) throw new ScopeError(shown, 'not a valid repository name');
    return { type, name, actions: actions.filter((a) => a !== '*') };
  }
  if (type === 'registry') {
    if (name !== 'catalog') throw new ScopeError(shown, 'the only registry resource is catalog');
    return { type, name, actions: ['*'] };
  }
  throw new ScopeError(shown, `unknown resource type "${type.slice(0, 50)}"`);
}

/** Formats a scope as the spec writes it (for challenges and logs). */
export function formatScope(scope: ResourceScope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}

/**
 * What to grant: for each requested scope, the requested actions that `allowed` permits. A scope
 * with nothing permitted is left out; a partial grant is not an error (the spec's rule). Scopes
 * for the same resource are merged.
 */
export function grantAccess(
  requested: readonly ResourceScope[],
  allowed: (scope: ResourceScope) => readonly Action[],
): ResourceScope[] {
  const granted = new Map<string, ResourceScope>();
  for (const scope of requested) {
    const permitted = new Set(allowed(scope));
    const actions = scope.actions.filter((action) => permitted.has(action));
    if (actions.length === 0) continue;
    const key = `${scope.type}:${scope.name}`;
    const previous = granted.get(key)?.actions ?? [];
    granted.set(key, {
      type: scope.type,
      name: scope.name,
      actions: [...new Set([...previous, ...actions])],
    });
  }
  return [...granted.values()];
}

/** Whether granted access covers `action` on a resource. */
export function allows(
  access: readonly ResourceScope[],
  type: ResourceScope['type'],
  name: string,
  action: Action,
): boolean {
  return access.some(
    (scope) =>
      scope.type === type &&
      scope.name === name &&
      (scope.actions.includes(action) || scope.actions.includes('*')),
  );
}
