import { Controller, Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { InProcessBus } from '@berth/bus';
import { loadConfig } from '@berth/config';
import pino from 'pino';
import { z } from 'zod';
import { Endpoint, Input, route, type InputOf } from './api-route';
import { PlatformModule } from './platform.module';
import { startHttpApp } from './http-app';

const Note = z.object({ id: z.string(), text: z.string(), tags: z.array(z.string()) });

const NoteRoutes = {
  create: route({
    method: 'post',
    path: '/api/v1/boards/{board}/notes',
    tag: 'notes',
    summary: 'Pin a note',
    access: 'public',
    params: z.object({ board: z.string().regex(/^[a-z]+$/) }),
    body: z.strictObject({ text: z.string().min(1), tags: z.array(z.string()).default([]) }),
    status: 201,
    response: Note,
  }),
  list: route({
    method: 'get',
    path: '/api/v1/boards/{board}/notes',
    tag: 'notes',
    summary: 'List the notes',
    access: 'public',
    params: z.object({ board: z.string() }),
    query: z.object({ limit: z.coerce.number().int().min(1).default(10) }),
    status: 200,
    response: z.object({ board: z.string(), limit: z.number() }),
  }),
  clear: route({
    method: 'delete',
    path: '/api/v1/boards/{board}/notes',
    tag: 'notes',
    summary: 'Unpin every note',
    access: 'public',
    params: z.object({ board: z.string() }),
    status: 204,
  }),
};

@Controller()
class NotesController {
  @Endpoint(NoteRoutes.create)
  create(@Input() { params, body }: InputOf<typeof NoteRoutes.create>) {
    return Promise.resolve({ id: params.board, text: body.text, tags: body.tags });
  }

  @Endpoint(NoteRoutes.list)
  list(@Input() { params, query }: InputOf<typeof NoteRoutes.list>) {
    return Promise.resolve({ board: params.board, limit: query.limit });
  }

  @Endpoint(NoteRoutes.clear)
  clear(): Promise<void> {
    return Promise.resolve();
  }
}

@Module({ controllers: [NotesController] })
class NotesModule {}

describe('routes served by their declarations', () => {
  let bus: InProcessBus;
  let app: NestFastifyApplication;
  let url: string;

  beforeAll(async () => {
    bus = new InProcessBus();
    const config = loadConfig({ BERTH_AUTH_MODE: 'none' });
    const logger = pino({ level: 'silent' });
    app = await startHttpApp(
      { module: NotesModule, imports: [PlatformModule.register({ config, logger, bus })] },
      { host: '127.0.0.1', port: 0, logger },
    );
    url = `${await app.getUrl()}/api/v1/boards`;
  });

  afterAll(async () => {
    await app.close();
    await bus.close();
  });

  const post = (board: string, body: unknown) =>
    fetch(`${url}/${board}/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('serves the declared method, path and status, with the validated input', async () => {
    const response = await post('home', { text: 'milk' });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ id: 'home', text: 'milk', tags: [] });
    const list = await fetch(`${url}/home/notes?limit=3`);
    expect(await list.json()).toEqual({ board: 'home', limit: 3 });
    expect((await fetch(`${url}/home/notes`, { method: 'DELETE' })).status).toBe(204);
  });

  it('answers input that does not fit with a 400 problem naming each issue', async () => {
    const response = await post('home', { text: '', colour: 'red' });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await response.json()) as { errors: { path: string; message: string }[] };
    expect(problem.errors.map((issue) => issue.path).sort()).toEqual(['', 'text']);
  });

  it('validates path parameters and queries the same way', async () => {
    expect((await post('Home', { text: 'milk' })).status).toBe(400);
    expect((await fetch(`${url}/home/notes?limit=0`)).status).toBe(400);
    expect((await fetch(`${url}/home/notes?limit=x`)).status).toBe(400);
  });

  it('refuses a missing body that the route requires', async () => {
    const response = await fetch(`${url}/home/notes`, { method: 'POST' });
    expect(response.status).toBe(400);
  });
});
