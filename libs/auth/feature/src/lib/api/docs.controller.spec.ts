import { InProcessBus } from '@berth/bus';
import { GetWebhooksApiDocument } from '@berth/contracts';
import { OciError } from '@berth/oci';
import { apiDocument, documentedRoutes, route } from '@berth/server';
import pino from 'pino';
import { z } from 'zod';
import { DocsController } from './docs.controller';

/** A part as another service would generate it from its own declarations. */
function hooksPart(path = '/api/v1/projects/{project}/hooks') {
  const params = path.includes('{project}') ? { params: z.object({ project: z.string() }) } : {};
  return apiDocument({
    title: 'hooks',
    description: 'a part of another service',
    tags: [{ name: 'hooks', description: 'hooks' }],
    routes: [
      route({
        method: 'get',
        path,
        tag: 'hooks',
        summary: 'List hooks',
        access: 'credentials',
        ...params,
        status: 200,
        response: z.array(z.object({ id: z.string() }).meta({ id: 'Hook' })),
      }),
    ],
  });
}

describe('the documents auth serves for /api/v1', () => {
  let bus: InProcessBus;
  let sut: DocsController;

  beforeEach(() => {
    bus = new InProcessBus();
    sut = new DocsController(bus, pino({ level: 'silent' }));
  });

  afterEach(async () => {
    await bus.close();
  });

  it("merges auth's own part with the part each other service answers over the bus", async () => {
    await bus.handle(GetWebhooksApiDocument, () => Promise.resolve(hooksPart()));
    const document = await sut.document();
    expect(documentedRoutes(document)).toEqual(
      expect.arrayContaining(['GET /api/v1/users', 'GET /api/v1/projects/{project}/hooks']),
    );
    expect(Object.keys(document.components?.['schemas'] ?? {})).toEqual(
      expect.arrayContaining(['User', 'Hook']),
    );
    expect(document['x-berth-missing-parts']).toBeUndefined();
  });

  it('leaves out, and names, a part whose service does not answer', async () => {
    const document = await sut.document();
    expect(documentedRoutes(document)).toContain('GET /api/v1/users');
    expect(documentedRoutes(document).some((r) => r.includes('/hooks'))).toBe(false);
    expect(document['x-berth-missing-parts']).toEqual(['webhooks']);
    expect(document.info.description).toContain(
      'Not included, as the service could not be reached just now: webhooks.',
    );
  });

  it('fails loudly when another part declares one of its routes', async () => {
    await bus.handle(GetWebhooksApiDocument, () => Promise.resolve(hooksPart('/api/v1/users')));
    await expect(sut.document()).rejects.toThrow('two parts of the API declare get of /api/v1/users');
  });

  it("serves each service's own part by name", async () => {
    await bus.handle(GetWebhooksApiDocument, () => Promise.resolve(hooksPart()));
    const own = await sut.part({ params: { service: 'auth' } });
    expect(documentedRoutes(own).some((r) => r.includes('/hooks'))).toBe(false);
    const other = await sut.part({ params: { service: 'webhooks' } });
    expect(documentedRoutes(other)).toEqual(['GET /api/v1/projects/{project}/hooks']);
    await expect(sut.part({ params: { service: 'nothing' } })).rejects.toMatchObject({ status: 404 });
  });

  it('answers a part whose service cannot be reached as the bus does', async () => {
    await expect(sut.part({ params: { service: 'webhooks' } })).rejects.toBeInstanceOf(OciError);
  });
});
