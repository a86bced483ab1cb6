import { Controller, UseFilters, UseGuards } from '@nestjs/common';
import { Endpoint, Input, ProblemFilter, type InputOf } from '@berth/server';
import type {
  CreatedWebhookView,
  DeliveryDetailView,
  DeliveryView,
  RotatedSecretView,
  SubscriptionView,
} from './dto';
import { Actor, ProjectMaintainerGuard } from './project-caller';
import { WebhooksService } from './webhooks.service';
import { WebhookRoutes } from './webhooks.routes';

/**
 * `/api/v1/projects/{project}/webhooks`: a project's webhook subscriptions, their deliveries and
 * redelivery. Project admins, maintainers and system admins only; auth judges the credentials.
 * Each handler serves the route it names and takes that route's validated input first.
 */
@Controller()
@UseGuards(ProjectMaintainerGuard)
@UseFilters(ProblemFilter)
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Endpoint(WebhookRoutes.create)
  create(
    @Input() { params, body }: InputOf<typeof WebhookRoutes.create>,
    @Actor() actor: string,
  ): Promise<CreatedWebhookView> {
    return this.webhooks.create(params.project, body, actor);
  }

  @Endpoint(WebhookRoutes.list)
  list(@Input() { params }: InputOf<typeof WebhookRoutes.list>): Promise<SubscriptionView[]> {
    return this.webhooks.list(params.project);
  }

  @Endpoint(WebhookRoutes.get)
  get(@Input() { params }: InputOf<typeof WebhookRoutes.get>): Promise<SubscriptionView> {
    return this.webhooks.get(params.project, params.id);
  }

  @Endpoint(WebhookRoutes.update)
  update(@Input() { params, body }: InputOf<typeof WebhookRoutes.update>): Promise<SubscriptionView> {
    return this.webhooks.update(params.project, params.id, body);
  }

  @Endpoint(WebhookRoutes.delete)
  delete(@Input() { params }: InputOf<typeof WebhookRoutes.delete>): Promise<void> {
    return this.webhooks.delete(params.project, params.id);
  }

  @Endpoint(WebhookRoutes.rotate)
  rotate(@Input() { params, body }: InputOf<typeof WebhookRoutes.rotate>): Promise<RotatedSecretView> {
    return this.webhooks.rotateSecret(params.project, params.id, body);
  }

  @Endpoint(WebhookRoutes.deliveries)
  deliveries(@Input() { params, query }: InputOf<typeof WebhookRoutes.deliveries>): Promise<DeliveryView[]> {
    return this.webhooks.deliveriesOf(params.project, params.id, query);
  }

  @Endpoint(WebhookRoutes.delivery)
  delivery(@Input() { params }: InputOf<typeof WebhookRoutes.delivery>): Promise<DeliveryDetailView> {
    return this.webhooks.delivery(params.project, params.id, params.deliveryId);
  }

  @Endpoint(WebhookRoutes.redeliver)
  redeliver(@Input() { params }: InputOf<typeof WebhookRoutes.redeliver>): Promise<DeliveryView> {
    return this.webhooks.redeliver(params.project, params.id, params.deliveryId);
  }
}
