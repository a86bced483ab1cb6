import type { ApiDocument } from '@berth/contracts';
import { apiDocument, route } from '@berth/server';
import { z } from 'zod';
import {
  CreateWebhook,
  CreatedWebhookResponse,
  DeliveryDetailResponse,
  DeliveryPath,
  DeliveryQuery,
  DeliveryResponse,
  ProjectPath,
  RotateWebhookSecret,
  RotatedSecretResponse,
  UpdateWebhook,
  WebhookPath,
  WebhookResponse,
} from './dto';

// The webhooks service's part of `/api/v1`, each route declared once: the controller serves these
// declarations (`@Endpoint`), validates their input with these schemas (`@Input`), and the
// document below is generated from them. Auth merges it into the document of all of `/api/v1`.

/** `/api/v1/projects/{project}/webhooks`: for project admins, maintainers and system admins. */
export const WebhookRoutes = {
  create: route({
    method: 'post',
    path: '/api/v1/projects/{project}/webhooks',
    tag: 'webhooks',
    summary: 'Create a webhook; the answer holds its secret, shown once',
    access: 'credentials',
    params: ProjectPath,
    body: CreateWebhook,
    status: 201,
    response: CreatedWebhookResponse,
    problems: [409, 503],
  }),
  list: route({
    method: 'get',
    path: '/api/v1/projects/{project}/webhooks',
    tag: 'webhooks',
    summary: "List a project's webhooks",
    access: 'credentials',
    params: ProjectPath,
    status: 200,
    response: z.array(WebhookResponse),
    problems: [503],
  }),
  get: route({
    method: 'get',
    path: '/api/v1/projects/{project}/webhooks/{id}',
    tag: 'webhooks',
    summary: 'Read a webhook',
    access: 'credentials',
    params: WebhookPath,
    status: 200,
    response: WebhookResponse,
    problems: [503],
  }),
  update: route({
    method: 'patch',
    path: '/api/v1/projects/{project}/webhooks/{id}',
    tag: 'webhooks',
    summary: "Change a webhook's target, events, format, filters, headers or enabled",
    access: 'credentials',
    params: WebhookPath,
    body: UpdateWebhook,
    status: 200,
    response: WebhookResponse,
    problems: [503],
  }),
  delete: route({
    method: 'delete',
    path: '/api/v1/projects/{project}/webhooks/{id}',
    tag: 'webhooks',
    summary: 'Delete a webhook and its deliveries',
    access: 'credentials',
    params: WebhookPath,
    status: 204,
    problems: [503],
  }),
  rotate: route({
    method: 'post',
    path: '/api/v1/projects/{project}/webhooks/{id}/secret',
    tag: 'webhooks',
    summary: 'Rotate the signing secret; the old one also signs for `overlapSeconds` (24 h)',
    access: 'credentials',
    params: WebhookPath,
    body: RotateWebhookSecret,
    status: 200,
    response: RotatedSecretResponse,
    problems: [503],
  }),
  deliveries: route({
    method: 'get',
    path: '/api/v1/projects/{project}/webhooks/{id}/deliveries',
    tag: 'webhooks',
    summary: "A webhook's deliveries, newest first",
    access: 'credentials',
    params: WebhookPath,
    query: DeliveryQuery,
    status: 200,
    response: z.array(DeliveryResponse),
    problems: [503],
  }),
  delivery: route({
    method: 'get',
    path: '/api/v1/projects/{project}/webhooks/{id}/deliveries/{deliveryId}',
    tag: 'webhooks',
    summary: 'A delivery with its body and every attempt',
    access: 'credentials',
    params: DeliveryPath,
    status: 200,
    response: DeliveryDetailResponse,
    problems: [503],
  }),
  redeliver: route({
    method: 'post',
    path: '/api/v1/projects/{project}/webhooks/{id}/deliveries/{deliveryId}/redeliver',
    tag: 'webhooks',
    summary: 'Send a delivery again, with the same `webhook-id`, whatever its status',
    access: 'credentials',
    params: DeliveryPath,
    status: 202,
    response: DeliveryResponse,
    problems: [503],
  }),
};

/** The webhooks service's part of `/api/v1`, generated from the declarations above. */
export function webhooksApiDocument(): ApiDocument {
  return apiDocument({
    title: 'Berth management API: webhooks',
    description:
      "A project's webhook subscriptions, their signed deliveries and redelivery; served by the " +
      'webhooks service, which asks auth who the caller is.',
    tags: [{ name: 'webhooks', description: 'Signed HTTP callbacks on registry events, per project' }],
    routes: Object.values(WebhookRoutes),
  });
}
