import { CONTEXT, DIGEST, webhookEvent } from '../../testing/events';
import { WEBHOOK_EVENT_TYPES } from '../event';
import { toCloudEvent } from './cloudevents';

describe('CloudEvents payload', () => {
  it('renders a CloudEvents 1.0 event with the event in data', () => {
    const sut = toCloudEvent(webhookEvent(), CONTEXT);
    expect(sut).toEqual({
      specversion: '1.0',
      id: '0b7e1c52-6c1e-4f43-9d55-1f0f3f5e7a10',
      source: 'https://registry.example.com:8443/projects/team',
      type: 'io.berth.artifact.pushed',
      subject: `team/app@${DIGEST}`,
      time: '2024-05-01T12:00:00.250Z',
      datacontenttype: 'application/json',
      data: {
        project: 'team',
        repository: 'team/app',
        digest: DIGEST,
        tag: 'v1.2.0',
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 1234,
        actor: { name: 'alice', kind: 'user' },
        requestId: 'req-42',
      },
    });
  });

  it('types every event as io.berth.<type>', () => {
    for (const type of WEBHOOK_EVENT_TYPES) {
      expect(toCloudEvent(webhookEvent({ type }), CONTEXT).type).toBe(`io.berth.${type}`);
    }
  });

  it('keeps the id of the event, so every delivery of it is recognisably the same event', () => {
    const event = webhookEvent();
    expect(toCloudEvent(event, CONTEXT).id).toBe(event.id);
    expect(toCloudEvent(event, { ...CONTEXT, instanceId: 'instance-2' }).id).toBe(event.id);
  });

  it('names the reference the event concerns in subject', () => {
    const subject = (overrides: Parameters<typeof webhookEvent>[0]): string =>
      toCloudEvent(webhookEvent(overrides), CONTEXT).subject;
    expect(subject({ type: 'tag.created' })).toBe('team/app:v1.2.0');
    expect(subject({ type: 'tag.deleted', digest: null })).toBe('team/app:v1.2.0');
    expect(subject({ type: 'artifact.pulled', tag: null })).toBe(`team/app@${DIGEST}`);
    expect(subject({ type: 'artifact.pushed', digest: null })).toBe('team/app:v1.2.0');
    expect(subject({ type: 'repository.created', digest: null, tag: null })).toBe('team/app');
  });

  it('builds source from the registry URL with or without a trailing slash', () => {
    const bare = { ...CONTEXT, registryUrl: 'https://registry.example.com' };
    expect(toCloudEvent(webhookEvent(), bare).source).toBe('https://registry.example.com/projects/team');
  });

  it('carries details and a missing actor as they are', () => {
    const details = { scanType: 'sbom', summary: { components: 42 }, scanner: 'builtin' };
    const sut = toCloudEvent(webhookEvent({ type: 'scan.completed', actor: null, details }), CONTEXT);
    expect(sut.data.actor).toBeNull();
    expect(sut.data.details).toEqual(details);
  });

  it('leaves details out of the JSON when the event has none', () => {
    const sut = JSON.parse(JSON.stringify(toCloudEvent(webhookEvent(), CONTEXT))) as { data: object };
    expect(sut.data).not.toHaveProperty('details');
  });
});
