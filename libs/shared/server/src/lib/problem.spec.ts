import type { ArgumentsHost } from '@nestjs/common';
import { OciError } from '@berth/oci';
import pino from 'pino';
import { Problem, ProblemFilter } from './problem';

/** Runs the filter on an exception and returns the status and body it answered with. */
function answer(exception: unknown): { status: number; body: Record<string, unknown> } {
  const sent: { status: number; body: string } = { status: 0, body: '' };
  const reply = {
    sent: false,
    raw: { once: () => reply.raw },
    removeHeader: () => reply,
    code(status: number) {
      sent.status = status;
      return reply;
    },
    headers: () => reply,
    header: () => reply,
    send(body: string) {
      sent.body = body;
      return reply;
    },
  };
  const host = {
    switchToHttp: () => ({
      getResponse: () => reply,
      getRequest: () => ({ id: 'r1', url: '/api/v1/x?y=1', raw: { complete: true } }),
    }),
  } as unknown as ArgumentsHost;
  new ProblemFilter(pino({ level: 'silent' })).catch(exception, host);
  return { status: sent.status, body: JSON.parse(sent.body) as Record<string, unknown> };
}

describe('ProblemFilter', () => {
  it('answers a problem as itself', () => {
    expect(answer(new Problem('conflict', 'taken'))).toEqual({
      status: 409,
      body: expect.objectContaining({ status: 409, detail: 'taken', instance: '/api/v1/x' }) as unknown,
    });
  });

  it('carries the status of a service that could not answer over the bus, instead of a 500', () => {
    const { status, body } = answer(new OciError('UNAVAILABLE', 'service unavailable: berth.rpc.auth.x'));
    expect(status).toBe(503);
    expect(body).toMatchObject({
      title: 'Service unavailable',
      detail: 'service unavailable: berth.rpc.auth.x',
    });
    expect(answer(new OciError('NAME_UNKNOWN', 'no such repository')).status).toBe(404);
  });

  it('answers a failure nobody explained as an internal error, without its details', () => {
    expect(answer(new Error('secret internals'))).toEqual({
      status: 500,
      body: expect.objectContaining({ detail: 'internal error' }) as unknown,
    });
    expect(answer(new OciError('UNKNOWN', 'database exploded')).body['detail']).toBe('internal error');
  });
});
