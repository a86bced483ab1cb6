import { z } from 'zod';
import { apiDocument, documentedRoutes, mergeApiDocuments, ProblemDetails } from './api-document';
import { route, type ApiRoute } from './api-route';

const Thing = z.object({ name: z.string(), size: z.number().int() }).meta({ id: 'Thing' });
const CreateThing = z.strictObject({ name: z.string().min(1) }).meta({ id: 'CreateThing' });

const things = {
  create: route({
    method: 'post',
    path: '/api/v1/things',
    tag: 'things',
    summary: 'Create a thing',
    access: 'credentials',
    body: CreateThing,
    status: 201,
    response: Thing,
    problems: [409],
  }),
  get: route({
    method: 'get',
    path: '/api/v1/things/{name}',
    tag: 'things',
    summary: 'Read a thing',
    access: 'anonymous-too',
    params: z.object({ name: z.string() }),
    status: 200,
    response: Thing,
  }),
  ping: route({
    method: 'get',
    path: '/api/v1/ping',
    tag: 'misc',
    summary: 'Answer',
    access: 'public',
    status: 204,
  }),
};

const part = (routes: readonly ApiRoute[], tag = 'things') =>
  apiDocument({ title: 'part', description: 'a part', tags: [{ name: tag, description: tag }], routes });

type Operation = {
  security: unknown[];
  requestBody?: { required: boolean; content: Record<string, { schema: unknown }> };
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
};

describe('apiDocument', () => {
  const sut = part(Object.values(things));
  const operation = (path: string, method: string) => sut.paths[path]?.[method] as Operation;

  it('generates an OpenAPI 3.1 document whose named schemas are components', () => {
    expect(sut.openapi).toBe('3.1.0');
    expect(documentedRoutes(sut).sort()).toEqual([
      'GET /api/v1/ping',
      'GET /api/v1/things/{name}',
      'POST /api/v1/things',
    ]);
    expect(Object.keys(sut.components?.['schemas'] ?? {}).sort()).toEqual([
      'CreateThing',
      'Problem',
      'Thing',
    ]);
    expect(operation('/api/v1/things', 'post').requestBody).toEqual({
      required: true,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateThing' } } },
    });
  });

  it('answers with the problems a route implies, and those it declares', () => {
    expect(Object.keys(operation('/api/v1/things', 'post').responses)).toEqual([
      '201',
      '400',
      '401',
      '403',
      '409',
      '429',
    ]);
    expect(Object.keys(operation('/api/v1/things/{name}', 'get').responses)).toEqual([
      '200',
      '400',
      '401',
      '403',
      '404',
      '429',
    ]);
    expect(Object.keys(operation('/api/v1/ping', 'get').responses)).toEqual(['204']);
    expect(operation('/api/v1/things', 'post').responses['409']?.content).toEqual({
      'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
    });
  });

  it('says who may call: credentials, anyone too, or no check at all', () => {
    expect(operation('/api/v1/things', 'post').security).toEqual([{ basic: [] }, { bearer: [] }]);
    expect(operation('/api/v1/things/{name}', 'get').security).toEqual([{ basic: [] }, { bearer: [] }, {}]);
    expect(operation('/api/v1/ping', 'get').security).toEqual([]);
  });

  it('refuses a route declared twice', () => {
    expect(() => part([things.create, things.create])).toThrow('POST /api/v1/things is declared twice');
  });

  it('refuses a route whose params do not match its path', () => {
    const bad = { ...things.get, params: z.object({ id: z.string() }) };
    expect(() => part([bad])).toThrow('GET /api/v1/things/{name} declares params id');
    expect(() => part([{ ...things.get, params: undefined }])).toThrow('declares params none');
  });
});

describe('mergeApiDocuments', () => {
  const other = {
    list: route({
      method: 'get',
      path: '/api/v1/things/{name}/parts',
      tag: 'parts',
      summary: 'List the parts of a thing',
      access: 'credentials',
      params: z.object({ name: z.string() }),
      status: 200,
      response: z.array(z.object({ part: z.string() }).meta({ id: 'Part' })),
    }),
  };
  const info = { title: 'all', description: 'everything' };

  it('holds the paths, tags and components of every part, the shared ones once', () => {
    const first = part([things.create]);
    const second = part(Object.values(other), 'parts');
    const before = JSON.stringify([first, second]);
    const sut = mergeApiDocuments(info, [first, second]);
    expect(documentedRoutes(sut).sort()).toEqual(['GET /api/v1/things/{name}/parts', 'POST /api/v1/things']);
    expect(sut.info).toEqual({ ...info, version: 'v1' });
    expect(sut.tags?.map((tag) => tag.name)).toEqual(['things', 'parts']);
    expect(Object.keys(sut.components?.['schemas'] ?? {}).sort()).toEqual([
      'CreateThing',
      'Part',
      'Problem',
      'Thing',
    ]);
    expect(Object.keys(sut.components?.['securitySchemes'] ?? {})).toEqual(['basic', 'bearer']);
    expect(JSON.stringify([first, second])).toBe(before);
  });

  it('merges the operations of one path from different parts', () => {
    const sut = mergeApiDocuments(info, [
      part([things.get]),
      part([{ ...things.get, method: 'delete', status: 204 }]),
    ]);
    expect(documentedRoutes(sut).sort()).toEqual([
      'DELETE /api/v1/things/{name}',
      'GET /api/v1/things/{name}',
    ]);
  });

  it('refuses two parts that declare the same operation', () => {
    expect(() => mergeApiDocuments(info, [part([things.create]), part([things.create])])).toThrow(
      'two parts of the API declare post of /api/v1/things',
    );
  });

  it('refuses two parts that declare one component differently', () => {
    const Clash = z.object({ other: z.boolean() }).meta({ id: 'Thing' });
    expect(() =>
      mergeApiDocuments(info, [
        part([things.create]),
        part([{ ...things.ping, status: 200, response: Clash }]),
      ]),
    ).toThrow('two parts of the API declare the schemas component Thing differently');
  });
});

describe('ProblemDetails', () => {
  it('keeps the extension members of a problem', () => {
    expect(
      ProblemDetails.parse({ type: 't', title: 'T', status: 409, detail: 'd', instance: '/x', reason: 'r' }),
    ).toMatchObject({ reason: 'r' });
  });
});
