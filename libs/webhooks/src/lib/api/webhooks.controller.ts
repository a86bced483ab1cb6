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
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { ProblemFilter } from '@berth/server';
import { DeliveryQuery } from './dto';
import { Actor, ProjectMaintainerGuard } from './project-caller';
import { WebhooksService, type DeliveryView, type SubscriptionView } from './webhooks.service';

/**
 * `/api/v1/projects/{project}/webhooks`: a project's webhook subscriptions, their deliveries and
 * redelivery. Project admins, maintainers and system admins only; auth judges the credentials.
 */
@Controller('api/v1/projects/:project/webhooks')
@UseGuards(ProjectMaintainerGuard)
@UseFilters(ProblemFilter)
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  create(
    @Actor() actor: string,
    @Param('project') project: string,
    @Body() body: unknown,
  ): Promise<SubscriptionView & { secret: string }> {
    return this.webhooks.create(project, body, actor);
  }

  @Get()
  list(@Param('project') project: string): Promise<SubscriptionView[]> {
    return this.webhooks.list(project);
  }

  @Get(':id')
  get(@Param('project') project: string, @Param('id') id: string): Promise<SubscriptionView> {
    return this.webhooks.get(project, id);
  }

  @Patch(':id')
  update(
    @Param('project') project: string,
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<SubscriptionView> {
    return this.webhooks.update(project, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  delete(@Param('project') project: string, @Param('id') id: string): Promise<void> {
    return this.webhooks.delete(project, id);
  }

  /** Rotates the signing secret; the old one keeps signing too for `overlapSeconds` (24 h). */
  @Post(':id/secret')
  @HttpCode(200)
  rotate(
    @Param('project') project: string,
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<{ secret: string; previousSecretValidUntil: string | null }> {
    return this.webhooks.rotateSecret(project, id, body);
  }

  @Get(':id/deliveries')
  deliveries(
    @Param('project') project: string,
    @Param('id') id: string,
    @Query() query: unknown,
  ): Promise<DeliveryView[]> {
    return this.webhooks.deliveriesOf(project, id, DeliveryQuery.parse(query));
  }

  @Get(':id/deliveries/:deliveryId')
  delivery(
    @Param('project') project: string,
    @Param('id') id: string,
    @Param('deliveryId') deliveryId: string,
  ): Promise<DeliveryView> {
    return this.webhooks.delivery(project, id, deliveryId);
  }

  @Post(':id/deliveries/:deliveryId/redeliver')
  @HttpCode(202)
  redeliver(
    @Param('project') project: string,
    @Param('id') id: string,
    @Param('deliveryId') deliveryId: string,
  ): Promise<DeliveryView> {
    return this.webhooks.redeliver(project, id, deliveryId);
  }
}
