import { CONTEXT, DIGEST, webhookEvent } from '../../testing/events';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../event';
import { DISTRIBUTION_ACTIONS, toDistributionEnvelope } from './distribution';

const MANIFEST_URL = `https://registry.example.com:8443/v2/team/app/manifests/${DIGEST}`;

describe("Distribution's notification envelope", () => {
  it('renders a push as a one-event envelope describing the manifest', () => {
    const sut = toDistributionEnvelope(webhookEvent(), CONTEXT);
    expect(sut).toEqual({
      events: [
        {
          id: '0b7e1c52-6c1e-4f43-9d55-1f0f3f5e7a10',
          timestamp: '2024-05-01T12:00:00.250Z',
          action: 'push',
          target: {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: DIGEST,
            size: 1234,
            length: 1234,
            repository: 'team/app',
            url: MANIFEST_URL,
            tag: 'v1.2.0',
          },
          request: { id: 'req-42', host: 'registry.example.com:8443', method: 'PUT', useragent: '' },
          actor: { name: 'alice' },
          source: { addr: 'registry.example.com:8443', instanceID: 'instance-1' },
        },
      ],
    });
  });

  it("uses Distribution's field names and order", () => {
    const sut = JSON.stringify(toDistributionEnvelope(webhookEvent({ tag: null }), CONTEXT));
    expect(sut).toBe(
      '{"events":[{"id":"0b7e1c52-6c1e-4f43-9d55-1f0f3f5e7a10","timestamp":"2024-05-01T12:00:00.250Z","action":"push",' +
        `"target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${DIGEST}","size":1234,"length":1234,"repository":"team/app","url":"${MANIFEST_URL}"},` +
        '"request":{"id":"req-42","host":"registry.example.com:8443","method":"PUT","useragent":""},' +
        '"actor":{"name":"alice"},"source":{"addr":"registry.example.com:8443","instanceID":"instance-1"}}]}',
    );
  });

  it('renders a pull as a GET of the manifest', () => {
    const sut = toDistributionEnvelope(webhookEvent({ type: 'artifact.pulled' }), CONTEXT)?.events[0];
    expect(sut?.action).toBe('pull');
    expect(sut?.request.method).toBe('GET');
    expect(sut?.target).toMatchObject({ digest: DIGEST, url: MANIFEST_URL, tag: 'v1.2.0' });
  });

  it('renders a created tag as a push of the manifest with that tag, as Distribution reports tagging', () => {
    const sut = toDistributionEnvelope(webhookEvent({ type: 'tag.created', tag: 'stable' }), CONTEXT)
      ?.events[0];
    expect(sut?.action).toBe('push');
    expect(sut?.target).toMatchObject({ digest: DIGEST, tag: 'stable', url: MANIFEST_URL });
  });

  it('names only what was deleted, as Distribution does', () => {
    const target = (type: WebhookEventType): unknown =>
      JSON.parse(JSON.stringify(toDistributionEnvelope(webhookEvent({ type }), CONTEXT)?.events[0]?.target));
    expect(target('artifact.deleted')).toEqual({ digest: DIGEST, repository: 'team/app' });
    expect(target('tag.deleted')).toEqual({ repository: 'team/app', tag: 'v1.2.0' });
    expect(target('repository.deleted')).toEqual({ repository: 'team/app' });
    expect(
      toDistributionEnvelope(webhookEvent({ type: 'artifact.deleted' }), CONTEXT)?.events[0]?.request.method,
    ).toBe('DELETE');
  });

  it('leaves out what the event does not know', () => {
    const event = webhookEvent({ actor: null, requestId: null, mediaType: null, size: null, digest: null });
    const sut = JSON.parse(JSON.stringify(toDistributionEnvelope(event, CONTEXT))) as {
      events: [{ actor: object; request: { id: string }; target: object }];
    };
    expect(sut.events[0].actor).toEqual({});
    expect(sut.events[0].request.id).toBe('');
    expect(sut.events[0].target).toEqual({ repository: 'team/app', tag: 'v1.2.0' });
  });

  it("names this node in source.addr when told, else the registry's host", () => {
    const sut = toDistributionEnvelope(webhookEvent(), { ...CONTEXT, nodeAddr: 'berth-gateway-0:5000' });
    expect(sut?.events[0]?.source).toEqual({ addr: 'berth-gateway-0:5000', instanceID: 'instance-1' });
  });

  it('has no rendering for events Distribution cannot express', () => {
    const unsupported = WEBHOOK_EVENT_TYPES.filter((type) => DISTRIBUTION_ACTIONS[type] === undefined);
    expect(unsupported).toEqual([
      'repository.created',
      'quota.warned',
      'quota.exceeded',
      'scan.completed',
      'scan.failed',
      'replication.finished',
    ]);
    for (const type of unsupported)
      expect(toDistributionEnvelope(webhookEvent({ type }), CONTEXT)).toBeNull();
  });
});
