import { CONTEXT, DIGEST, webhookEvent } from '../../testing/events';
import { WEBHOOK_EVENT_TYPES } from '../event';
import { HARBOR_EVENT_TYPES, toHarborPayload } from './harbor';

/** 2024-05-01T12:00:00Z in Unix seconds. */
const OCCUR_AT = 1714564800;

describe("Harbor's webhook payload", () => {
  it('renders a push by tag exactly as Harbor does', () => {
    const sut = toHarborPayload(webhookEvent(), { ...CONTEXT, projectPublic: true });
    expect(sut).toEqual({
      type: 'PUSH_ARTIFACT',
      occur_at: OCCUR_AT,
      operator: 'alice',
      event_data: {
        resources: [
          { digest: DIGEST, tag: 'v1.2.0', resource_url: 'registry.example.com:8443/team/app:v1.2.0' },
        ],
        repository: { name: 'app', namespace: 'team', repo_full_name: 'team/app', repo_type: 'public' },
      },
    });
  });

  it("keeps Harbor's field order, and leaves absent fields out as Go's omitempty does", () => {
    const sut = JSON.stringify(toHarborPayload(webhookEvent(), CONTEXT));
    expect(sut).toBe(
      '{"type":"PUSH_ARTIFACT","occur_at":1714564800,"operator":"alice","event_data":{"resources":[{"digest":"' +
        DIGEST +
        '","tag":"v1.2.0","resource_url":"registry.example.com:8443/team/app:v1.2.0"}],"repository":{"name":"app","namespace":"team","repo_full_name":"team/app","repo_type":"private"}}}',
    );
  });

  it('puts the digest in tag and an @digest reference in resource_url for an untagged artifact', () => {
    const sut = toHarborPayload(webhookEvent({ type: 'artifact.pulled', tag: null }), CONTEXT);
    expect(sut.type).toBe('PULL_ARTIFACT');
    expect(sut.event_data.resources).toEqual([
      { digest: DIGEST, tag: DIGEST, resource_url: `registry.example.com:8443/team/app@${DIGEST}` },
    ]);
  });

  it('names a nested repository without its project, and a top-level one by itself', () => {
    const nested = toHarborPayload(webhookEvent({ repository: 'team/app/api' }), CONTEXT);
    expect(nested.event_data.repository).toMatchObject({ name: 'app/api', repo_full_name: 'team/app/api' });
    const topLevel = toHarborPayload(webhookEvent({ project: 'library', repository: 'busybox' }), CONTEXT);
    expect(topLevel.event_data.repository).toMatchObject({ name: 'busybox', namespace: 'library' });
    expect(topLevel.event_data.resources?.[0]?.resource_url).toBe('registry.example.com:8443/busybox:v1.2.0');
  });

  it('reports a private project unless told otherwise', () => {
    expect(toHarborPayload(webhookEvent(), CONTEXT).event_data.repository?.repo_type).toBe('private');
    expect(
      toHarborPayload(webhookEvent(), { ...CONTEXT, projectPublic: false }).event_data.repository?.repo_type,
    ).toBe('private');
  });

  it('sends an empty operator for an event without an actor', () => {
    expect(toHarborPayload(webhookEvent({ actor: null }), CONTEXT).operator).toBe('');
    const robot = webhookEvent({ actor: { name: 'robot$team+ci', kind: 'robot' } });
    expect(toHarborPayload(robot, CONTEXT).operator).toBe('robot$team+ci');
  });

  it('renders tag events with the tag as the resource', () => {
    const sut = toHarborPayload(webhookEvent({ type: 'tag.deleted', tag: 'old' }), CONTEXT);
    expect(sut.type).toBe('DELETE_TAG');
    expect(sut.event_data.resources).toEqual([
      { digest: DIGEST, tag: 'old', resource_url: 'registry.example.com:8443/team/app:old' },
    ]);
  });

  it('renders repository events with the repository alone', () => {
    const sut = toHarborPayload(
      webhookEvent({ type: 'repository.deleted', digest: null, tag: null, mediaType: null, size: null }),
      CONTEXT,
    );
    expect(sut).toEqual({
      type: 'DELETE_REPOSITORY',
      occur_at: OCCUR_AT,
      operator: 'alice',
      event_data: {
        repository: { name: 'app', namespace: 'team', repo_full_name: 'team/app', repo_type: 'private' },
      },
    });
  });

  it('renders a completed scan with its type and its summary as scan_overview', () => {
    const summary = { 'application/vnd.security.vulnerability.report; version=1.1': { severity: 'High' } };
    const event = webhookEvent({
      type: 'scan.completed',
      actor: { name: 'scanner', kind: 'system' },
      details: { scanType: 'vulnerability', summary },
    });
    expect(JSON.parse(JSON.stringify(toHarborPayload(event, CONTEXT)))).toEqual({
      type: 'SCANNING_COMPLETED',
      occur_at: OCCUR_AT,
      operator: 'scanner',
      event_data: {
        resources: [
          {
            digest: DIGEST,
            tag: 'v1.2.0',
            resource_url: 'registry.example.com:8443/team/app:v1.2.0',
            scan_overview: summary,
          },
        ],
        repository: { name: 'app', namespace: 'team', repo_full_name: 'team/app', repo_type: 'private' },
        scan: { scan_type: 'vulnerability' },
      },
    });
  });

  it('renders a failed scan of an untagged artifact, with its message', () => {
    const event = webhookEvent({
      type: 'scan.failed',
      tag: null,
      details: { message: 'scanner unreachable' },
    });
    const sut = JSON.parse(JSON.stringify(toHarborPayload(event, CONTEXT))) as ReturnType<
      typeof toHarborPayload
    >;
    expect(sut.type).toBe('SCANNING_FAILED');
    expect(sut.event_data.resources).toEqual([
      { digest: DIGEST, resource_url: `registry.example.com:8443/team/app@${DIGEST}` },
    ]);
    expect(sut.event_data.scan).toEqual({ scan_type: 'vulnerability' });
    expect(sut.event_data.custom_attributes).toEqual({ Details: 'scanner unreachable' });
  });

  it("renders quota events with Harbor's custom_attributes.Details", () => {
    const event = webhookEvent({
      type: 'quota.exceeded',
      details: {
        message:
          'adding 12 MiB of storage resource, which when updated to current usage of 1 GiB will exceed the configured upper limit of 1 GiB',
      },
    });
    const sut = JSON.parse(JSON.stringify(toHarborPayload(event, CONTEXT))) as ReturnType<
      typeof toHarborPayload
    >;
    expect(sut.type).toBe('QUOTA_EXCEED');
    expect(sut.event_data).toEqual({
      resources: [{ digest: DIGEST, tag: 'v1.2.0' }],
      repository: { name: 'app', namespace: 'team', repo_full_name: 'team/app', repo_type: 'private' },
      custom_attributes: { Details: event.details?.message },
    });
    const warned = toHarborPayload(webhookEvent({ type: 'quota.warned', digest: null, tag: null }), CONTEXT);
    expect(warned.type).toBe('QUOTA_WARNING');
    expect(JSON.parse(JSON.stringify(warned.event_data))).not.toHaveProperty('resources');
  });

  it("renders a finished replication in Harbor's replication shape", () => {
    const event = webhookEvent({
      type: 'replication.finished',
      actor: { name: 'admin' },
      details: { status: 'succeeded', trigger: 'event_based', policy: 'to-dr', message: 'copy to DR site' },
    });
    expect(JSON.parse(JSON.stringify(toHarborPayload(event, CONTEXT)))).toEqual({
      type: 'REPLICATION',
      occur_at: OCCUR_AT,
      operator: 'admin',
      event_data: {
        replication: {
          harbor_hostname: 'registry.example.com',
          job_status: 'Success',
          description: 'copy to DR site',
          trigger_type: 'event_based',
          successful_artifact: [
            { type: 'artifact', status: 'Success', name_tag: 'app:v1.2.0', references: [DIGEST] },
          ],
        },
      },
    });
    const failed = toHarborPayload(
      webhookEvent({ type: 'replication.finished', details: { status: 'failed' } }),
      CONTEXT,
    );
    expect(failed.event_data.replication).toMatchObject({
      job_status: 'Error',
      failed_artifact: [{ status: 'Error' }],
    });
    expect(failed.event_data.replication?.successful_artifact).toBeUndefined();
  });

  it('has a Harbor type for every event type, Harbor names where Harbor has them', () => {
    expect(Object.keys(HARBOR_EVENT_TYPES).sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    for (const type of WEBHOOK_EVENT_TYPES) {
      expect(toHarborPayload(webhookEvent({ type }), CONTEXT).type).toBe(HARBOR_EVENT_TYPES[type]);
    }
    expect(HARBOR_EVENT_TYPES['tag.created']).toBe('CREATE_TAG');
    expect(HARBOR_EVENT_TYPES['repository.created']).toBe('CREATE_REPOSITORY');
  });

  it('truncates the time to whole seconds and refuses an unreadable one', () => {
    expect(toHarborPayload(webhookEvent({ occurredAt: '2024-05-01T12:00:00.999Z' }), CONTEXT).occur_at).toBe(
      OCCUR_AT,
    );
    expect(() => toHarborPayload(webhookEvent({ occurredAt: 'yesterday' }), CONTEXT)).toThrow(
      'unreadable occurredAt',
    );
  });
});
