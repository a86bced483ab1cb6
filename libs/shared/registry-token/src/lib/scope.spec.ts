import { allows, formatScope, grantAccess, parseScopes, ScopeError, type ResourceScope } from './scope';

describe('scopes', () => {
  it('parses the spec form, several per parameter, and the catalog', () => {
    expect(parseScopes('repository:library/app:pull,push registry:catalog:*')).toEqual([
      { type: 'repository', name: 'library/app', actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
  });

  it('drops unknown actions but keeps the known ones', () => {
    expect(parseScopes('repository:a:pull,fly')).toEqual([
      { type: 'repository', name: 'a', actions: ['pull'] },
    ]);
  });

  it.each([
    ['a host:port in the name', 'repository:localhost:5000/app:pull'],
    ['no actions known', 'repository:a:fly'],
    ['an unknown type', 'volume:a:pull'],
    ['garbage', ':::'],
    ['no colon', 'repository'],
    ['traversal in the name', 'repository:a/../b:pull'],
    ['upper case in the name', 'repository:App:pull'],
    ['a registry resource other than catalog', 'registry:config:*'],
  ])('refuses %s', (_label, value) => {
    expect(() => parseScopes(value)).toThrow(ScopeError);
  });

  it('grants the intersection of what was asked and what is allowed, leaving out what is not', () => {
    const requested = parseScopes('repository:a:pull,push repository:b:pull repository:a:delete');
    const sut = grantAccess(requested, (scope) => (scope.name === 'a' ? ['pull', 'delete'] : []));
    expect(sut).toEqual([{ type: 'repository', name: 'a', actions: ['pull', 'delete'] }]);
    expect(allows(sut, 'repository', 'a', 'delete')).toBe(true);
    expect(allows(sut, 'repository', 'a', 'push')).toBe(false);
    expect(allows(sut, 'repository', 'b', 'pull')).toBe(false);
  });

  it('formats a scope back into the spec form', () => {
    const scope: ResourceScope = { type: 'repository', name: 'x/y', actions: ['pull', 'push'] };
    expect(formatScope(scope)).toBe('repository:x/y:pull,push');
  });
});
