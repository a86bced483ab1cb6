import { randomBytes, randomUUID } from 'node:crypto';
import { InProcessBus } from '@berth/bus';
import {
  ArtifactsPulled,
  ManifestPushed,
  ReplicationFinished,
  ScanCompleted,
  TagDeleted,
  type ArtifactsPulledEvent,
  type ManifestPushedEvent,
} from '@berth/contracts';
import { openDatabase, type Database } from '@berth/db';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import { generateSecret, type WebhookEventType, type WebhookFormat } from '@berth/webhooks-core';
import { DeliveryRepository, deliveryId, type NewDelivery } from './delivery.repository';
import { EventRouter, MATCHERS_TTL_MS } from './event-router';
import { SecretBox } from './secret-box';
import { SubscriptionRepository } from './subscription.repository';

const CONTEXT = { registryUrl: 'https://registry.example.com', instanceId: 'router-test' };
const RETRY_WINDOW_MS = 3_600_000;
const DIGEST = `sha256:${'a'.repeat(64)}`;

/** What a subscription filters on; the rest as the API's defaults. */
interface Wants {
  readonly events?: readonly WebhookEventType[];
  readonly format?: WebhookFormat;
  readonly repositories?: readonly string[];
  readonly tags?: readonly string[];
  readonly enabled?: boolean;
}

describe('EventRouter on the in-process bus and PostgreSQL', () => {
  let testDb: TestDatabase;
  let database: Database;
  let subscriptions: SubscriptionRepository;
  let deliveries: DeliveryRepository;
  let bus: InProcessBus;
  let sut: EventRouter;
  /** Each batch the router handed over to be stored, as it was handed over. */
  let stored: (readonly NewDelivery[])[];
  /** A project of the test's own, so that tests never see each other's subscriptions. */
  let project: string;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    database = await openDatabase({ url: testDb.url, embeddedDir: '' });
    subscriptions = new SubscriptionRepository(database.client, new SecretBox(randomBytes(32)));
    deliveries = new DeliveryRepository(database.client, database.sql);
  });

  afterAll(async () => {
    await database.close();
    await testDb.drop();
  });

  beforeEach(async () => {
    project = `p${randomBytes(4).toString('hex')}`;
    stored = [];
    bus = new InProcessBus();
    sut = new EventRouter(subscriptions, deliveries, CONTEXT, RETRY_WINDOW_MS);
    // Stores as the router does without a dispatcher, and notes each batch.
    sut.storeThrough(async (batch) => {
      stored.push(batch);
      await deliveries.createMany(batch);
    });
    await sut.start(bus);
  });

  afterEach(async () => {
    jest.useRealTimers();
    await bus.close();
  });

  async function subscription(name: string, wants: Wants = {}, inProject = project): Promise<string> {
    const created = await subscriptions.create(
      inProject,
      name,
      {
        url: `https://receiver.example.com/${name}`,
        events: wants.events ?? ['artifact.pushed'],
        format: wants.format ?? 'default',
        headers: null,
        repositories: wants.repositories ?? null,
        tags: wants.tags ?? null,
        enabled: wants.enabled ?? true,
      },
      generateSecret(),
      'alice',
    );
    if (created === null) throw new Error(`subscription ${name} exists`);
    return created.id;
  }

  function pushed(changes: Partial<ManifestPushedEvent> = {}): ManifestPushedEvent {
    return {
      id: randomUUID(),
      occurredAt: new Date().toISOString(),
      requestId: 'req-1',
      actor: 'alice',
      project,
      repository: `${project}/app`,
      digest: DIGEST,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 1234,
      artifactType: null,
      tags: ['v1'],
      ...changes,
    };
  }

  /** The event ids each subscription has deliveries of, sorted. */
  async function eventsOf(subscriptionId: string): Promise<string[]> {
    const list = await deliveries.list(subscriptionId, undefined, 0, 100);
    return list.map((delivery) => delivery.eventId).sort();
  }

  it('routes an event to every enabled subscription of its project that wants it, and to no other', async () => {
    const all = await subscription('all');
    const tagged = await subscription('tagged', { events: ['tag.deleted'] });
    const app = await subscription('app-only', { repositories: [`${project}/app`] });
    const releases = await subscription('releases', { tags: ['v*'] });
    const nightly = await subscription('nightly', { tags: ['nightly-*'] });
    const deep = await subscription('deep', { repositories: [`${project}/**`] });
    const shallow = await subscription('shallow', { repositories: [`${project}/*`] });
    const off = await subscription('off', { enabled: false });
    const elsewhere = await subscription('elsewhere', {}, `${project}-other`);

    const v1 = pushed();
    const byDigest = pushed({ tags: [] });
    const nested = pushed({ repository: `${project}/team/tool`, tags: ['nightly-7'] });
    await bus.publish(ManifestPushed, v1);
    await bus.publish(ManifestPushed, byDigest);
    await bus.publish(ManifestPushed, nested);

    expect(await eventsOf(all)).toEqual([v1.id, byDigest.id, nested.id].sort());
    expect(await eventsOf(tagged)).toEqual([]);
    expect(await eventsOf(app)).toEqual([v1.id, byDigest.id].sort());
    // A tag filter asks for tags: a push by digest has none.
    expect(await eventsOf(releases)).toEqual([v1.id]);
    expect(await eventsOf(nightly)).toEqual([nested.id]);
    expect(await eventsOf(deep)).toEqual([v1.id, byDigest.id, nested.id].sort());
    expect(await eventsOf(shallow)).toEqual([v1.id, byDigest.id].sort());
    expect(await eventsOf(off)).toEqual([]);
    expect(await eventsOf(elsewhere)).toEqual([]);

    const tagDeleted = {
      id: randomUUID(),
      occurredAt: new Date().toISOString(),
      requestId: null,
      actor: 'alice',
      project,
      repository: `${project}/app`,
      digest: DIGEST,
      tag: 'v1',
    };
    await bus.publish(TagDeleted, tagDeleted);
    expect(await eventsOf(tagged)).toEqual([tagDeleted.id]);
    expect(await eventsOf(all)).not.toContain(tagDeleted.id);
  });

  it("renders each delivery in its subscription's format, due for the retry window", async () => {
    const harbor = await subscription('harbor');
    const cloud = await subscription('cloud', { format: 'cloudevents' });
    const distribution = await subscription('distribution', {
      format: 'distribution',
      events: ['artifact.pushed', 'scan.completed'],
    });
    const event = pushed();
    const before = Date.now();

    await bus.publish(ManifestPushed, event);

    const of = async (subscriptionId: string) => {
      const found = await deliveries.find(subscriptionId, deliveryId(subscriptionId, event.id));
      if (found === null) throw new Error('no delivery');
      return found;
    };
    const harborDelivery = await of(harbor);
    expect(harborDelivery.contentType).toBe('application/json');
    expect(JSON.parse(harborDelivery.body)).toMatchObject({ type: 'PUSH_ARTIFACT' });
    const cloudDelivery = await of(cloud);
    expect(cloudDelivery.contentType).toBe('application/cloudevents+json');
    expect(JSON.parse(cloudDelivery.body)).toMatchObject({
      id: event.id,
      type: 'io.berth.artifact.pushed',
      source: `https://registry.example.com/projects/${project}`,
      subject: `${project}/app@${DIGEST}`,
    });
    expect((await of(distribution)).contentType).toBe('application/vnd.docker.distribution.events.v2+json');
    for (const delivery of [harborDelivery, cloudDelivery]) {
      expect(delivery).toMatchObject({ status: 'pending', attempts: 0, eventType: 'artifact.pushed' });
      expect(delivery.occurredAt).toEqual(new Date(event.occurredAt));
      expect(delivery.giveUpAt.getTime()).toBeGreaterThanOrEqual(before + RETRY_WINDOW_MS);
    }

    // An event the format cannot express is left out for that subscription, not thrown.
    const scan = {
      id: randomUUID(),
      occurredAt: new Date().toISOString(),
      requestId: null,
      actor: null,
      project,
      repository: `${project}/app`,
      digest: DIGEST,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      scanner: 'trivy 0.50.1',
      scanType: 'vulnerability',
      summary: { critical: 0 },
    };
    await bus.publish(ScanCompleted, scan);
    expect(await eventsOf(distribution)).toEqual([event.id]);
  });

  it('creates one delivery per subscription and event, however often the event comes', async () => {
    const id = await subscription('once');
    const event = pushed();

    await bus.publish(ManifestPushed, event);
    await bus.publish(ManifestPushed, event);
    // Twice in one batch, as a redelivery may hand it over.
    await bus.publishAll([
      { contract: ManifestPushed, payload: event },
      { contract: ManifestPushed, payload: event },
    ]);

    expect(await deliveries.counts(id)).toEqual({ pending: 1, delivered: 0, failed: 0 });
    expect(await eventsOf(id)).toEqual([event.id]);
  });

  it('stores the deliveries of the events the bus hands over at once in one batch', async () => {
    const first = await subscription('first');
    const second = await subscription('second', { events: ['artifact.pushed', 'artifact.pulled'] });
    const events = [pushed(), pushed(), pushed()];
    const pulls: ArtifactsPulledEvent = {
      id: randomUUID(),
      occurredAt: new Date().toISOString(),
      requestId: null,
      pulls: ['v1', null].map((tag) => ({
        id: randomUUID(),
        occurredAt: new Date().toISOString(),
        requestId: randomUUID(),
        actor: null,
        project,
        repository: `${project}/app`,
        digest: DIGEST,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 1234,
        tag,
      })),
    };

    // A neighbouring project's event in the same batch goes to that project's subscriptions only.
    const neighbour = await subscription('neighbour', {}, `${project}-next`);
    const next = pushed({ project: `${project}-next`, repository: `${project}-next/app` });

    await bus.publishAll([
      ...events.map((payload) => ({ contract: ManifestPushed, payload })),
      { contract: ArtifactsPulled, payload: pulls },
      { contract: ManifestPushed, payload: next },
    ]);

    expect(stored).toHaveLength(1);
    // Three pushes for both, each pull of the batch an event of its own for the second, and the neighbour's.
    expect(stored[0]).toHaveLength(3 + 3 + 2 + 1);
    expect(await eventsOf(neighbour)).toEqual([next.id]);
    expect(await eventsOf(first)).toEqual(events.map((e) => e.id).sort());
    expect(await eventsOf(second)).toEqual(
      [...events.map((e) => e.id), ...pulls.pulls.map((p) => p.id)].sort(),
    );
  });

  it('hands nothing over for events no subscription wants, or that name no project', async () => {
    await subscription('pushes');
    await bus.publish(
      ManifestPushed,
      pushed({ project: `${project}-nobody`, repository: `${project}-nobody/app` }),
    );
    await bus.publish(ReplicationFinished, {
      id: randomUUID(),
      occurredAt: new Date().toISOString(),
      requestId: null,
      actor: null,
      project: null,
      policy: 'mirror',
      trigger: 'manual',
      status: 'succeeded',
      message: 'done',
      destination: 'https://other.example.com',
    });
    expect(stored).toEqual([]);
  });

  it('acknowledges events only once their deliveries are stored: a failed store has them handed over again', async () => {
    const id = await subscription('retried');
    let refusals = 1;
    sut.storeThrough(async (batch) => {
      stored.push(batch);
      if (refusals-- > 0) throw new Error('the pass that was to store them failed');
      await deliveries.createMany(batch);
    });
    const event = pushed();

    await bus.publish(ManifestPushed, event);

    expect(stored).toHaveLength(2);
    expect(await eventsOf(id)).toEqual([event.id]);
  });

  it("trusts what it read of a project's subscriptions for a while, unless told they changed here", async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'queueMicrotask'] });
    const early = await subscription('early');
    await bus.publish(ManifestPushed, pushed());

    // Created through another instance: this one does not look again until its reading is old.
    const late = await subscription('late');
    const unseen = pushed();
    await bus.publish(ManifestPushed, unseen);
    expect(await eventsOf(late)).toEqual([]);
    jest.setSystemTime(Date.now() + MATCHERS_TTL_MS);
    const seen = pushed();
    await bus.publish(ManifestPushed, seen);
    expect(await eventsOf(late)).toEqual([seen.id]);

    // Changed through this instance: it forgets what it read at once.
    await subscriptions.update(project, early, {
      url: 'https://receiver.example.com/early',
      events: ['artifact.pushed'],
      format: 'default',
      headers: null,
      repositories: null,
      tags: null,
      enabled: false,
    });
    sut.forget(project);
    const afterDisable = pushed();
    await bus.publish(ManifestPushed, afterDisable);
    expect(await eventsOf(early)).not.toContain(afterDisable.id);
    expect(await eventsOf(late)).toContain(afterDisable.id);
  });
});
