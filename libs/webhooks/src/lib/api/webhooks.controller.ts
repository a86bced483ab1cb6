import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  Req,
  UseFilters,
} from '@nestjs/common';
import { Bus } from '@berth/bus';
import { ProblemFilter } from '@berth/server';
import type { FastifyRequest } from 'fastify';
import { DeliveryQuery } from './dto';
import { requireProjectMaintainer } from './project-caller';
import { WebhooksService, type DeliveryView, type SubscriptionView } from './webhooks.service';

/**
 * `/api/v1/projects/{project}/webhooks`: a project's webhook subscriptions, their deliveries and
 * redelivery. Project admins, maintainers and system admins only; auth judges the credentials.
 */
@Controller('api/v1/projects/:project/webhooks')
@UseFilters(ProblemFilter)
export class WebhooksController {
  constructor(
    private readonly webhooks: WebhooksService,
    private readonly bus: Bus,
  ) {}

  @Post()
  async create(
    @Req() request: FastifyRequest,
    @Param('project') project: string,
    @Body() body: unknown,
  ): Promise<SubscriptionView & { secret: string }> {
    const actor = await requireProjectMaintainer(this.bus, request, project);
    return this.webhooks.create(project, body, actor);
  }

  @Get()
  async list(@Req() request: FastifyRequest, @Param('project') project: string): Promise<SubscriptionView[]> {
    await requireProjectMaintainer(this.bus, request, project);
    return this.webhooks.list(project);
  }

  @Get(':id')
  async get(
    @Req() request: FastifyRequest,
    @Param('project') project: string,
    @Param('id') id: string,
  ): Promise<SubscriptionView> {
    await requireProjectMaintainer(this.bus, request, project);
    return this.webhooks.get(project, id);
  }

  @Patch(':id')
  async update(
    @Req() request: FastifyRequest,
    @Param('project') project: string,
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<SubscriptionView> {
    await requireProjectMaintainer(this.bus, request, project);
    return this.webhooks.update(project, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(
    @Req() request: FastifyRequest,
    @Param('project') project: string,
    @Param('id') id: string,
  ): Promise<void> {
    await requireProjectMaintainer(this.bus, request, project);
    await this.webhooks.delete(project, id);
  }

  /** Rotates the signing secret; the old one keeps signing too for `overlapSeconds` (24 h). */
  @Post(':id/secret')
  @HttpCode(200)
  async rotate(
    @Req() request: FastifyRequest,
    @Param('project') project: string,
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<{ secret: string; previousSecretValidUntil: string | null }> {
    await requireProjectMaintainer(this.bus, request, project);
    return this.webhooks.rotateSecret(project, id, body);
  }

  @Get(':id/deliveries')
  async deliveries(
    @Req() request: FastifyRequest,
    @Param('project') project: string,
    @Param('id') id: string,
    @Query() query: unknown,
  ): Promise<DeliveryView[]> {
    await requireProjectMaintainer(this.bus, request, project);
    return this.webhooks.deliveriesOf(project, id, DeliveryQuery.parse(query));
  }

  @Get(':id/deliveries/:deliveryId')
  async delivery(
    @Req() request: FastifyRequest,
    @Param('project') project: string,
    @Param('id') id: string,
    @Param('deliveryId') deliveryId: string,
  ): Promise<DeliveryView> {
    await requireProjectMaintainer(this.bus, request, project);
    return this.webhooks.delivery(project, id, deliveryId);
  }

  @Post(':id/deliveries/:deliveryId/redeliver')
  @HttpCode(202)
  async redeliver(
    @Req() request: FastifyRequest,
    @Param('project') project: string,
    @Param('id') id: string,
    @Param('deliveryId') deliveryId: string,
  ): Promise<DeliveryView> {
    await requireProjectMaintainer(this.bus, request, project);
    return this.webhooks.redeliver(project, id, deliveryId);
  }
}
