import {
  eventually,
  startBerth,
  startPrivateNats,
  type PrivateNats,
  type RunningBerth,
} from '@berth/testing';
import { apiJson, basicAuth } from './support/auth';
import { OciClient } from './support/oci-client';
import { WebhookReceiver } from './support/webhook-receiver';

describe('webhooks across a NATS restart: distributed (PostgreSQL, NATS, S3)', () => {
  let nats: PrivateNats;
  let berth: RunningBerth;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    nats = await startPrivateNats();
    berth = await startBerth({
      shape: 'distributed',
      storage: 's3',
      env: { BERTH_NATS_URL: nats.url, BERTH_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8' },
    });
    receiver = await WebhookReceiver.start();
  });

  afterAll(async () => {
    await receiver.stop();
    await berth.stop();
    await nats.stop();
  });

  it('loses no event when NATS restarts right after a push', async () => {
    await apiJson(berth, 'POST', '/api/v1/projects', 201, { body: { name: 'natsrestart', public: false } });
    const created = await fetch(`${berth.webhooksUrl}/api/v1/projects/natsrestart/webhooks`, {
      method: 'POST',
      headers: { authorization: basicAuth(berth.admin), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ci', url: receiver.url, events: ['artifact.pushed'] }),
    });
    expect(created.status).toBe(201);
    const pusher = new OciClient(berth.url, berth.admin);

    await pusher.pushImage('natsrestart/app', 'before');
    await nats.stopServer();
    // Down until Berth has noticed: the gateway's questions over the bus are refused.
    await eventually(
      async () => (await pusher.request('GET', '/v2/natsrestart/app/tags/list')).status === 503,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await nats.startServer();
    // Pushing again works once the clients have reconnected.
    await eventually(() => pusher.pushImage('natsrestart/app', 'after'), {
      timeoutMs: 90_000,
      intervalMs: 500,
    });

    await receiver.until((r) => r.filter((w) => w.status === 200).length >= 2, 60_000);
    const tags = receiver.received.map(
      (w) =>
        (JSON.parse(w.body) as { event_data: { resources: { tag: string }[] } }).event_data.resources[0]?.tag,
    );
    expect(new Set(tags)).toEqual(new Set(['before', 'after']));
  });
});
