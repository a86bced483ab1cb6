import { documentedRoutes, servedRoutes } from '@berth/server';
import { WebhooksModule } from '../webhooks.module';
import { CreateWebhook, RotateWebhookSecret } from './dto';
import { webhooksApiDocument } from './webhooks.routes';

describe("the webhooks service's part of the API document", () => {
  const sut = webhooksApiDocument();

  it('documents every route its controllers serve, and no other', () => {
    const served = servedRoutes(WebhooksModule);
    expect(served).toContain(
      'POST /api/v1/projects/{project}/webhooks/{id}/deliveries/{deliveryId}/redeliver',
    );
    expect([...documentedRoutes(sut)].sort()).toEqual([...served].sort());
  });

  it('describes only routes of the webhooks API', () => {
    for (const path of Object.keys(sut.paths))
      expect(path).toMatch(/^\/api\/v1\/projects\/\{project\}\/webhooks/);
  });

  it('names its bodies and answers as components, with the event types and formats to choose from', () => {
    const schemas = sut.components?.['schemas'] ?? {};
    expect(Object.keys(schemas)).toEqual(
      expect.arrayContaining([
        'CreateWebhook',
        'UpdateWebhook',
        'Webhook',
        'CreatedWebhook',
        'Delivery',
        'Problem',
      ]),
    );
    expect(JSON.stringify(schemas['CreateWebhook'])).toContain('"artifact.pushed"');
    expect(JSON.stringify(schemas['CreateWebhook'])).toContain('"cloudevents"');
  });

  it('marks the rotation body optional and the creation body required', () => {
    const body = (path: string, method: string) =>
      (sut.paths[path]?.[method] as { requestBody?: { required?: boolean } } | undefined)?.requestBody;
    expect(body('/api/v1/projects/{project}/webhooks/{id}/secret', 'post')?.required).toBe(false);
    expect(body('/api/v1/projects/{project}/webhooks', 'post')?.required).toBe(true);
  });
});

describe('the webhook bodies', () => {
  const valid = { name: 'ci', url: 'https://ci.example.com/hook', events: ['artifact.pushed'] };

  it('drop repeated event types, keeping the first place', () => {
    expect(
      CreateWebhook.parse({ ...valid, events: ['tag.created', 'artifact.pushed', 'tag.created'] }).events,
    ).toEqual(['tag.created', 'artifact.pushed']);
  });

  it.each([
    ['an unknown event type', { events: ['artifact.exploded'] }, 'valid types are'],
    ['no event type', { events: [] }, 'at least one event type'],
    ['an unknown format', { format: 'xml' }, 'format must be one of'],
    ['a secret that is not base64', { secret: 'whsec_not base64!' }, 'standard base64'],
    ['a bad repository glob', { repositories: ['../etc'] }, 'is not a repository glob'],
    ['a reserved header', { headers: { 'Webhook-Signature': 'x' } }, 'set by Berth'],
  ])('refuse %s with a message that says why', (_case, override, message) => {
    const result = CreateWebhook.safeParse({ ...valid, ...override });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.message).join('\n')).toContain(message);
  });

  it('rotate with the defaults when the body is left out', () => {
    expect(RotateWebhookSecret.parse(undefined)).toEqual({ overlapSeconds: 24 * 3600 });
  });
});
