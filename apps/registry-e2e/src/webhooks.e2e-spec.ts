import { randomBytes } from 'node:crypto';
import { eventually, startBerth, type EventuallyOptions, type RunningBerth } from '@berth/testing';
import { verifyWebhook } from '@berth/webhooks-core';
import { apiJson, basicAuth } from './support/auth';
import { OciClient, jsonBlob, type Credentials } from './support/oci-client';
import { SHAPES } from './support/shapes';
import { WebhookReceiver, type ReceivedWebhook } from './support/webhook-receiver';

/** The retry window of the Berth under test: short, so that giving up is testable. */
const RETRY_WINDOW_SECONDS = 12;

interface Subscription {
  readonly id: string;
  readonly secret: string;
  readonly enabled: boolean;
  readonly disabledReason: string | null;
}

interface DeliveryView {
  readonly id: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly status: string;
  readonly attempts: number;
  readonly lastResponseCode: number | null;
  readonly lastError: string | null;
}

/** The parsed JSON body of a webhook. */
function bodyOf(webhook: ReceivedWebhook | undefined): Record<string, unknown> {
  if (!webhook) throw new Error('no webhook');
  return JSON.parse(webhook.body) as Record<string, unknown>;
}

describe.each(SHAPES)('webhooks: $label', (shape) => {
  let berth: RunningBerth;
  let admin: Credentials;
  let pusher: OciClient;
  const receivers: WebhookReceiver[] = [];

  /** Calls the webhook API as the admin unless told otherwise. */
  const hooks = (
    method: string,
    path: string,
    options: { body?: unknown; as?: Credentials | null } = {},
  ): Promise<Response> => {
    const as = options.as === undefined ? admin : options.as;
    return fetch(`${berth.webhooksUrl}/api/v1/projects/${path}`, {
      method,
      headers: {
        ...(as !== null && { authorization: basicAuth(as) }),
        ...(options.body !== undefined && { 'content-type': 'application/json' }),
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  };

  const hooksJson = async <T>(method: string, path: string, status: number, body?: unknown): Promise<T> => {
    const response = await hooks(method, path, body === undefined ? {} : { body });
    const text = await response.text();
    if (response.status !== status) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  };

  /** A fresh project, and a receiver subscribed to it. */
  async function subscribed(
    settings: Record<string, unknown> = {},
  ): Promise<{ project: string; receiver: WebhookReceiver; subscription: Subscription }> {
    const project = `wh-${randomBytes(4).toString('hex')}`;
    await apiJson(berth, 'POST', '/api/v1/projects', 201, { body: { name: project, public: false } });
    const receiver = await WebhookReceiver.start();
    receivers.push(receiver);
    const subscription = await hooksJson<Subscription>('POST', `${project}/webhooks`, 201, {
      name: 'ci',
      url: receiver.url,
      events: ['artifact.pushed'],
      ...settings,
    });
    return { project, receiver, subscription };
  }

  const deliveriesOf = (project: string, id: string): Promise<DeliveryView[]> =>
    hooksJson<DeliveryView[]>('GET', `${project}/webhooks/${id}/deliveries`, 200);

  /**
   * What `read` gives once `done` holds of it (by default within 5 s, read every 50 ms; a failure
   * shows the last value): the dispatcher records an attempt at its next pass, up to 50 ms after
   * the receiver answered (ADR 0008).
   */
  function recorded<T>(
    read: () => Promise<T>,
    done: (value: T) => boolean,
    options: EventuallyOptions = {},
  ): Promise<T> {
    return eventually(
      async () => {
        const value = await read();
        if (!done(value)) throw new Error(`not yet: ${JSON.stringify(value)}`);
        return value;
      },
      { timeoutMs: 5_000, intervalMs: 50, ...options },
    );
  }

  /** Pushes a small image (config, one layer, manifest) by tag. */
  const push = (repository: string, tag: string) => pusher.pushImage(repository, tag);

  beforeAll(async () => {
    berth = await startBerth({
      ...shape,
      env: {
        BERTH_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
        BERTH_WEBHOOK_TIMEOUT_SECONDS: '5',
        BERTH_WEBHOOK_RETRY_WINDOW_SECONDS: String(RETRY_WINDOW_SECONDS),
        BERTH_PUBLIC_URL: 'https://registry.example.com',
      },
    });
    admin = berth.admin;
    pusher = new OciClient(berth.url, admin);
  });

  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.stop()));
    await berth.stop();
  });

  describe('the API', () => {
    it('creates a subscription, shows its secret once, and never again', async () => {
      const { project, subscription, receiver } = await subscribed({ headers: { 'X-Team': 'platform' } });
      expect(subscription.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      const shown = await hooksJson<Record<string, unknown>>(
        'GET',
        `${project}/webhooks/${subscription.id}`,
        200,
      );
      expect(shown).toMatchObject({
        name: 'ci',
        url: receiver.url,
        events: ['artifact.pushed'],
        format: 'default',
        headers: ['X-Team'],
        enabled: true,
      });
      expect(JSON.stringify(shown)).not.toContain(subscription.secret);
      expect(JSON.stringify(shown)).not.toContain('platform');
      const listed = await hooksJson<unknown[]>('GET', `${project}/webhooks`, 200);
      expect(listed).toHaveLength(1);
      expect(
        (
          await hooks('POST', `${project}/webhooks`, {
            body: { name: 'ci', url: receiver.url, events: ['artifact.pushed'] },
          })
        ).status,
      ).toBe(409);
    });

    it.each([
      ['an ftp URL', { url: 'ftp://127.0.0.1/x' }],
      ['the cloud metadata address', { url: 'http://169.254.169.254/latest/meta-data' }],
      ['credentials in the URL', { url: 'http://user:pw@127.0.0.1/x' }],
      ['an unknown event type', { events: ['artifact.exploded'] }],
      ['no event type', { events: [] }],
      ['an event the format cannot carry', { format: 'distribution', events: ['scan.completed'] }],
      ['an unknown format', { format: 'xml' }],
      ['a reserved header', { headers: { 'Webhook-Signature': 'forged' } }],
      ['a header with a line break', { headers: { 'X-Evil': 'a\r\nInjected: yes' } }],
      ['a secret that is not base64', { secret: 'whsec_not base64!' }],
      ['a bad repository glob', { repositories: ['../etc'] }],
      ['an unknown field', { colour: 'blue' }],
    ])('refuses %s with a 400 problem', async (_case, override) => {
      const project = `wh-${randomBytes(4).toString('hex')}`;
      await apiJson(berth, 'POST', '/api/v1/projects', 201, { body: { name: project, public: false } });
      const response = await hooks('POST', `${project}/webhooks`, {
        body: { name: 'bad', url: 'http://127.0.0.1:9/x', events: ['artifact.pushed'], ...override },
      });
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
    });

    it('answers 401 without credentials, 404 for a project the caller cannot see, 403 below maintainer', async () => {
      const { project } = await subscribed();
      expect((await hooks('GET', `${project}/webhooks`, { as: null })).status).toBe(401);
      const dev = { username: `dev-${randomBytes(3).toString('hex')}`, password: 'developer-password' };
      await apiJson(berth, 'POST', '/api/v1/users', 201, { body: dev });
      expect((await hooks('GET', `${project}/webhooks`, { as: dev })).status).toBe(404);
      await apiJson(berth, 'POST', `/api/v1/projects/${project}/members`, 201, {
        body: { username: dev.username, role: 'developer' },
      });
      expect((await hooks('GET', `${project}/webhooks`, { as: dev })).status).toBe(403);
      await apiJson(berth, 'PATCH', `/api/v1/projects/${project}/members/users/${dev.username}`, 200, {
        body: { role: 'maintainer' },
      });
      expect((await hooks('GET', `${project}/webhooks`, { as: dev })).status).toBe(200);
      expect((await hooks('GET', 'no-such-project/webhooks')).status).toBe(404);
    });
  });

  describe('deliveries', () => {
    it('delivers a push, signed so that the documented recipe verifies it', async () => {
      const { project, receiver, subscription } = await subscribed();
      const { manifest } = await push(`${project}/app`, 'v1');
      await receiver.until((r) => r.length >= 1);
      const [webhook] = receiver.received;
      if (!webhook) throw new Error('no webhook');
      const verified = verifyWebhook({
        headers: webhook.headers,
        body: webhook.body,
        secrets: subscription.secret,
      });
      expect(verified.ok).toBe(true);
      expect(
        verifyWebhook({ headers: webhook.headers, body: `${webhook.body} `, secrets: subscription.secret })
          .ok,
      ).toBe(false);
      expect(webhook.headers['content-type']).toBe('application/json');
      expect(bodyOf(webhook)).toMatchObject({
        type: 'PUSH_ARTIFACT',
        operator: 'admin',
        event_data: {
          resources: [
            { digest: manifest.digest, tag: 'v1', resource_url: `registry.example.com/${project}/app:v1` },
          ],
          repository: { name: 'app', namespace: project, repo_full_name: `${project}/app` },
        },
      });
      const [delivery] = await recorded(
        () => deliveriesOf(project, subscription.id),
        ([first]) => first?.status !== 'pending',
      );
      expect(delivery).toMatchObject({
        eventType: 'artifact.pushed',
        status: 'delivered',
        attempts: 1,
        lastResponseCode: 200,
      });
      expect(webhook.headers['webhook-id']).toBe(delivery?.id);
    });

    it('renders CloudEvents and Distribution envelopes, and applies repository and tag filters', async () => {
      const cloud = await subscribed({
        format: 'cloudevents',
        events: ['artifact.pushed', 'tag.created'],
        tags: ['v*'],
      });
      await push(`${cloud.project}/svc`, 'v2');
      await push(`${cloud.project}/svc`, 'latest');
      await cloud.receiver.until((r) => r.length >= 2);
      expect(cloud.receiver.received.map((r) => r.headers['content-type'])).toEqual([
        'application/cloudevents+json',
        'application/cloudevents+json',
      ]);
      expect(cloud.receiver.received.map((r) => bodyOf(r)['type']).sort()).toEqual([
        'io.berth.artifact.pushed',
        'io.berth.tag.created',
      ]);

      const dist = await subscribed({ format: 'distribution', repositories: ['*/only-this'] });
      await push(`${dist.project}/other`, 'v1');
      await push(`${dist.project}/only-this`, 'v1');
      // A subscription's deliveries keep the order of its events: had `other` passed the filter,
      // it would have come before the push after it.
      await push(`${dist.project}/only-this`, 'v2');
      await dist.receiver.until((r) => r.length >= 2);
      const [envelope, next] = dist.receiver.received;
      expect(envelope?.headers['content-type']).toBe('application/vnd.docker.distribution.events.v2+json');
      expect(bodyOf(envelope)).toMatchObject({
        events: [{ action: 'push', target: { repository: `${dist.project}/only-this`, tag: 'v1' } }],
      });
      expect(bodyOf(next)).toMatchObject({
        events: [{ action: 'push', target: { repository: `${dist.project}/only-this`, tag: 'v2' } }],
      });
      expect(dist.receiver.received).toHaveLength(2);
    });

    it('retries a receiver that is down, with the same webhook-id, until it is up again', async () => {
      const { project, receiver, subscription } = await subscribed();
      receiver.next({ status: 503 }, { status: 500 }, { status: 502 });
      await push(`${project}/app`, 'v1');
      await receiver.until((r) => r.some((w) => w.status === 200), 20_000);
      expect(receiver.received.map((r) => r.status)).toEqual([503, 500, 502, 200]);
      expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
      const [delivery] = await recorded(
        () => deliveriesOf(project, subscription.id),
        ([first]) => first?.status !== 'pending',
      );
      expect(delivery).toMatchObject({ status: 'delivered', attempts: 4, lastResponseCode: 200 });
      const detail = await hooksJson<{ attemptLog: { responseCode: number }[] }>(
        'GET',
        `${project}/webhooks/${subscription.id}/deliveries/${delivery?.id ?? ''}`,
        200,
      );
      expect(detail.attemptLog.map((a) => a.responseCode)).toEqual([503, 500, 502, 200]);
    });

    it('keeps the order of a subscription’s deliveries while it retries', async () => {
      const { project, receiver } = await subscribed();
      receiver.next({ status: 500 }, { status: 500 });
      for (const tag of ['1', '2', '3']) await push(`${project}/app`, tag);
      await receiver.until((r) => r.filter((w) => w.status === 200).length >= 3, 20_000);
      expect(
        receiver.accepted.map(
          (w) => (bodyOf(w)['event_data'] as { resources: { tag: string }[] }).resources[0]?.tag,
        ),
      ).toEqual(['1', '2', '3']);
    });

    it('disables a subscription whose receiver answers 410 Gone, and says why', async () => {
      const { project, receiver, subscription } = await subscribed();
      // Another subscription of the project, which sees the same events.
      const witness = await WebhookReceiver.start();
      receivers.push(witness);
      const watching = await hooksJson<Subscription>('POST', `${project}/webhooks`, 201, {
        name: 'witness',
        url: witness.url,
        events: ['artifact.pushed'],
      });
      receiver.always({ status: 410 });
      await push(`${project}/app`, 'v1');
      await receiver.until((r) => r.length >= 1);
      const shown = await recorded(
        () => hooksJson<Subscription>('GET', `${project}/webhooks/${subscription.id}`, 200),
        (view) => !view.enabled,
      );
      expect(shown.disabledReason).toContain('410');
      await push(`${project}/app`, 'v2');
      // A delivery of v2 to the disabled subscription would have been stored with the witness's
      // and sent with it; by the time the witness's is recorded, none has come.
      await witness.until((r) => r.length >= 2);
      await recorded(
        () => deliveriesOf(project, watching.id),
        (list) => list.length === 2 && list.every((d) => d.status === 'delivered'),
      );
      expect(receiver.received).toHaveLength(1);
    });

    it('lets other subscriptions flow while one receiver hangs', async () => {
      const slow = await subscribed();
      slow.receiver.always('hang');
      const fast = await subscribed();
      await push(`${slow.project}/app`, 'v1');
      await slow.receiver.until((r) => r.length >= 1);
      await push(`${fast.project}/app`, 'v1');
      await fast.receiver.until((r) => r.length >= 1, 10_000);
      // It came while the hanging attempt still held its own subscription (for up to 5 s).
      expect(slow.receiver.hangingNow).toBe(1);
      expect(slow.receiver.received).toHaveLength(1);
    });

    it('gives up after the retry window, flags the subscription, and redelivers on request with the same id', async () => {
      const { project, receiver, subscription } = await subscribed();
      receiver.always({ status: 500 });
      await push(`${project}/app`, 'v1');
      await receiver.until((r) => r.length >= 1);
      const failing = await recorded(
        () =>
          hooksJson<{ failing: { consecutiveFailures: number } | null }>(
            'GET',
            `${project}/webhooks/${subscription.id}`,
            200,
          ),
        (shown) => shown.failing !== null,
      );
      expect(failing.failing?.consecutiveFailures).toBeGreaterThanOrEqual(1);
      const [delivery] = await recorded(
        () => deliveriesOf(project, subscription.id),
        ([first]) => first?.status === 'failed',
        { timeoutMs: (RETRY_WINDOW_SECONDS + 10) * 1000, intervalMs: 500 },
      );
      expect(delivery).toMatchObject({ status: 'failed', lastResponseCode: 500 });
      const attempts = receiver.received.length;
      receiver.always({ status: 204 });
      await hooksJson(
        'POST',
        `${project}/webhooks/${subscription.id}/deliveries/${delivery?.id ?? ''}/redeliver`,
        202,
      );
      await receiver.until((r) => r.length > attempts);
      expect(receiver.received.at(-1)?.headers['webhook-id']).toBe(delivery?.id);
      const [after] = await recorded(
        () => deliveriesOf(project, subscription.id),
        ([first]) => first?.status === 'delivered',
      );
      expect(after?.status).toBe('delivered');
    });

    it('signs with both secrets while a rotation overlaps', async () => {
      const { project, receiver, subscription } = await subscribed();
      const rotated = await hooksJson<{ secret: string }>(
        'POST',
        `${project}/webhooks/${subscription.id}/secret`,
        200,
        {},
      );
      await push(`${project}/app`, 'v1');
      await receiver.until((r) => r.length >= 1);
      const [webhook] = receiver.received;
      if (!webhook) throw new Error('no webhook');
      expect(webhook.headers['webhook-signature']?.split(' ')).toHaveLength(2);
      for (const secret of [subscription.secret, rotated.secret])
        expect(verifyWebhook({ headers: webhook.headers, body: webhook.body, secrets: secret }).ok).toBe(
          true,
        );
    });
  });

  describe('faults', () => {
    it('loses nothing when the webhooks service is killed mid-delivery; the retry carries the same id', async () => {
      const process = shape.shape === 'all-in-one' ? 'registry' : 'webhooks';
      const { project, receiver } = await subscribed();
      receiver.next('hang');
      await push(`${project}/app`, 'v1');
      await receiver.until((r) => r.length >= 1);
      await berth.kill(process);
      await berth.start(process);
      await receiver.until((r) => r.some((w) => w.status === 200), 60_000);
      expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    });

    it('delivers every one of a burst of 1,000 pushes, none lost, none twice', async () => {
      const { project, receiver } = await subscribed();
      const config = jsonBlob({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
      });
      await pusher.pushBlob(`${project}/burst`, config);
      const tags = Array.from({ length: 1000 }, (_, i) => `t${i}`);
      for (let i = 0; i < tags.length; i += 16) {
        await Promise.all(
          tags.slice(i, i + 16).map(async (tag) => {
            const manifest = jsonBlob({
              schemaVersion: 2,
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              config: {
                mediaType: 'application/vnd.oci.image.config.v1+json',
                digest: config.digest,
                size: config.bytes.length,
              },
              layers: [],
              annotations: { tag },
            });
            const response = await pusher.putManifest(`${project}/burst`, tag, manifest);
            expect(response.status).toBe(201);
          }),
        );
      }
      await receiver.until((r) => r.length >= tags.length, 120_000);
      const received = receiver.received.map(
        (w) => (bodyOf(w)['event_data'] as { resources: { tag: string }[] }).resources[0]?.tag,
      );
      expect(new Set(received).size).toBe(tags.length);
      expect(received).toHaveLength(tags.length);
    });
  });
});
