import {
  ArtifactsPulled,
  ManifestDeleted,
  ManifestPushed,
  QuotaExceeded,
  QuotaWarned,
  ReplicationFinished,
  RepositoryCreated,
  RepositoryDeleted,
  ScanCompleted,
  ScanFailed,
  TagCreated,
  TagDeleted,
  type DomainEvent,
  type EventContract,
} from '@berth/contracts';
import type { JsonObject, WebhookActor, WebhookEvent } from '@berth/webhooks-core';

/** A bus event that webhooks can carry, and how it becomes webhook events. */
export interface WebhookSource {
  readonly contract: EventContract<DomainEvent>;
  /** The webhook events of one payload (a batch of pulls gives several). */
  readonly toWebhookEvents: (payload: DomainEvent) => WebhookEvent[];
}

/** Pairs a contract with its translation; the bus hands the handler payloads of that contract. */
function mapped<P extends DomainEvent>(
  contract: EventContract<P>,
  map: (payload: P) => WebhookEvent[],
): WebhookSource {
  return {
    contract,
    toWebhookEvents: (payload) => map(payload as P),
  };
}

/** Who acted, from a token subject: robots and CI workloads are robots to a receiver. */
export function actorOf(subject: string | null): WebhookActor | null {
  if (subject === null || subject === '') return null;
  return {
    name: subject,
    kind: subject.startsWith('robot$') || subject.startsWith('oidc$') ? 'robot' : 'user',
  };
}

const none = { digest: null, tag: null, mediaType: null, size: null } as const;

/**
 * Every registry event a webhook may subscribe to, with its translation into the webhook event
 * model. Blob events are not webhook events: a receiver hears of the artifact, not its layers.
 */
export const WEBHOOK_SOURCES: readonly WebhookSource[] = [
  mapped(ManifestPushed, (e) => [
    {
      ...common(e, 'artifact.pushed'),
      digest: e.digest,
      tag: e.tags[0] ?? null,
      mediaType: e.mediaType,
      size: e.size,
      ...(e.tags.length > 1 && { details: { tags: e.tags } }),
    },
  ]),
  mapped(ManifestDeleted, (e) => [
    { ...common(e, 'artifact.deleted'), ...none, digest: e.digest, tag: e.tags[0] ?? null },
  ]),
  mapped(TagCreated, (e) => [
    {
      ...common(e, 'tag.created'),
      ...none,
      digest: e.digest,
      tag: e.tag,
      mediaType: e.mediaType,
      ...(e.previousDigest !== null && { details: { previousDigest: e.previousDigest } }),
    },
  ]),
  mapped(TagDeleted, (e) => [{ ...common(e, 'tag.deleted'), ...none, digest: e.digest, tag: e.tag }]),
  mapped(RepositoryCreated, (e) => [{ ...common(e, 'repository.created'), ...none }]),
  mapped(RepositoryDeleted, (e) => [{ ...common(e, 'repository.deleted'), ...none }]),
  mapped(ArtifactsPulled, (batch) =>
    batch.pulls.map((pull) => ({
      ...common(pull, 'artifact.pulled'),
      digest: pull.digest,
      tag: pull.tag,
      mediaType: pull.mediaType,
      size: pull.size,
    })),
  ),
  mapped(QuotaWarned, (e) => [
    {
      ...common({ ...e, repository: e.repository ?? '' }, 'quota.warned'),
      ...none,
      details: { message: e.message, usedBytes: e.usedBytes, limitBytes: e.limitBytes },
    },
  ]),
  mapped(QuotaExceeded, (e) => [
    {
      ...common({ ...e, repository: e.repository ?? '' }, 'quota.exceeded'),
      ...none,
      details: { message: e.message, usedBytes: e.usedBytes, limitBytes: e.limitBytes },
    },
  ]),
  mapped(ScanCompleted, (e) => [
    {
      ...common(e, 'scan.completed'),
      ...none,
      digest: e.digest,
      mediaType: e.mediaType,
      details: { scanType: e.scanType, scanner: e.scanner, summary: e.summary as JsonObject },
    },
  ]),
  mapped(ScanFailed, (e) => [
    {
      ...common(e, 'scan.failed'),
      ...none,
      digest: e.digest,
      mediaType: e.mediaType,
      details: { scanType: e.scanType, scanner: e.scanner, message: e.message },
    },
  ]),
  mapped(ReplicationFinished, (e) =>
    e.project === null
      ? []
      : [
          {
            ...common({ ...e, project: e.project, repository: e.repository ?? '' }, 'replication.finished'),
            ...none,
            details: {
              policy: e.policy,
              trigger: e.trigger,
              status: e.status,
              message: e.message,
              destination: e.destination,
            },
          },
        ],
  ),
];

function common(
  event: DomainEvent & {
    readonly actor: string | null;
    readonly project: string;
    readonly repository: string;
  },
  type: WebhookEvent['type'],
): Pick<WebhookEvent, 'id' | 'type' | 'occurredAt' | 'actor' | 'requestId' | 'project' | 'repository'> {
  return {
    id: event.id,
    type,
    occurredAt: event.occurredAt,
    actor: actorOf(event.actor),
    requestId: event.requestId,
    project: event.project,
    repository: event.repository,
  };
}
