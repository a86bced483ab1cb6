import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Readiness } from './readiness';

/** Liveness (`/healthz`: the process answers) and readiness (`/readyz`: its dependencies do). */
@Controller()
export class HealthController {
  constructor(private readonly readiness: Readiness) {}

  @Get('healthz')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async ready(@Res() reply: FastifyReply): Promise<void> {
    const result = await this.readiness.check();
    await reply.code(result.ready ? 200 : 503).send(result);
  }
}
