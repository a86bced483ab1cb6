import { controllerMethodsOf, documentedRoutes, routeOf, servedRoutes } from '@berth/server';
import { AuthModule } from '../auth.module';
import { AllowAnonymous } from './caller';
import { authApiDocument } from './management.routes';

/** The metadata key `@AllowAnonymous()` sets, learnt by applying it. */
function anonymousKey(): unknown {
  const probe = { handler: (): void => undefined };
  AllowAnonymous()(probe, 'handler', { value: probe.handler });
  const keys = Reflect.getOwnMetadataKeys(probe.handler) as unknown[];
  expect(keys).toHaveLength(1);
  return keys[0];
}

describe("auth's part of the API document", () => {
  const sut = authApiDocument();

  it('is an OpenAPI 3.1 document with the shared components', () => {
    expect(sut.openapi).toBe('3.1.0');
    expect(Object.keys(sut.components?.['schemas'] ?? {})).toEqual(
      expect.arrayContaining(['User', 'CreateUser', 'Project', 'Robot', 'AuditPage', 'Problem']),
    );
    expect(Object.keys(sut.components?.['securitySchemes'] ?? {})).toEqual(['basic', 'bearer']);
  });

  it('documents every route its controllers serve under /api/v1, and no other', () => {
    // `/token` and `/.well-known/jwks.json` follow the Docker token spec, outside the management API.
    const served = servedRoutes(AuthModule).filter((r) => r.split(' ')[1]?.startsWith('/api/v1/'));
    expect(served.length).toBeGreaterThan(25);
    expect([...documentedRoutes(sut)].sort()).toEqual([...served].sort());
  });

  it('says a route is open to anonymous callers exactly when its handler lets them through', () => {
    const key = anonymousKey();
    const declared = controllerMethodsOf(AuthModule).flatMap(({ handler }) => {
      const route = routeOf(handler);
      return route ? [{ route, anonymous: Reflect.getMetadata(key, handler) === true }] : [];
    });
    expect(declared.length).toBeGreaterThan(25);
    for (const { route, anonymous } of declared)
      expect({ route: `${route.method} ${route.path}`, anonymous }).toEqual({
        route: `${route.method} ${route.path}`,
        anonymous: route.access === 'anonymous-too',
      });
  });
});
