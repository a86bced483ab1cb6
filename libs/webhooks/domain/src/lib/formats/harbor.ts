import type { JsonObject, WebhookEvent, WebhookEventType } from '../event';
import { nameInProject, registryHost, unixSeconds, type RenderContext } from './render-context';

/**
 * Harbor's `type` for each Berth event. Harbor's webhooks cover artifacts, scans, quotas and
 * replication; for tags and repositories Berth uses the names Harbor gives those events on its
 * internal bus (`CREATE_TAG`, `DELETE_TAG`, `DELETE_REPOSITORY`), and `CREATE_REPOSITORY` by the
 * same pattern, so a Harbor receiver that switches on `type` simply ignores what it does not know.
 */
export const HARBOR_EVENT_TYPES: Readonly<Record<WebhookEventType, string>> = {
  'artifact.pushed': 'PUSH_ARTIFACT',
  'artifact.pulled': 'PULL_ARTIFACT',
  'artifact.deleted': 'DELETE_ARTIFACT',
  'tag.created': 'CREATE_TAG',
  'tag.deleted': 'DELETE_TAG',
  'repository.created': 'CREATE_REPOSITORY',
  'repository.deleted': 'DELETE_REPOSITORY',
  'quota.warned': 'QUOTA_WARNING',
  'quota.exceeded': 'QUOTA_EXCEED',
  'scan.completed': 'SCANNING_COMPLETED',
  'scan.failed': 'SCANNING_FAILED',
  'replication.finished': 'REPLICATION',
};

/** Harbor's job status names for a replication outcome. */
const JOB_STATUS: Readonly<Record<string, string>> = {
  succeeded: 'Success',
  failed: 'Error',
  stopped: 'Stopped',
};

// The shapes below follow Harbor's `notifier/model` structs field for field, in the same order;
// an absent optional field is left out, as Go's `omitempty` does.
interface HarborResource {
  readonly digest?: string;
  readonly tag?: string;
  readonly resource_url?: string;
  readonly scan_overview?: JsonObject;
}

interface HarborRepository {
  readonly name: string;
  readonly namespace: string;
  readonly repo_full_name: string;
  readonly repo_type: 'public' | 'private';
}

interface HarborArtifactInfo {
  readonly type: string;
  readonly status: string;
  readonly name_tag: string;
  readonly references: readonly string[];
}

interface HarborReplication {
  readonly harbor_hostname: string;
  readonly job_status?: string;
  readonly description?: string;
  readonly trigger_type?: string;
  readonly successful_artifact?: readonly HarborArtifactInfo[];
  readonly failed_artifact?: readonly HarborArtifactInfo[];
}

interface HarborEventData {
  readonly resources?: readonly HarborResource[];
  readonly repository?: HarborRepository;
  readonly replication?: HarborReplication;
  readonly scan?: { readonly scan_type: string };
  readonly custom_attributes?: Readonly<Record<string, string>>;
}

/** Harbor's webhook payload: `type`, `occur_at` (Unix seconds), `operator`, `event_data`. */
export interface HarborPayload {
  readonly type: string;
  readonly occur_at: number;
  readonly operator: string;
  readonly event_data: HarborEventData;
}

/**
 * Renders an event as Harbor's default webhook JSON, so that receivers written for Harbor work.
 * As in Harbor, a resource's `tag` is the digest when the artifact has no tag, and its
 * `resource_url` is a pullable reference (`host/repo:tag` or `host/repo@digest`), not a URL.
 * `operator` is empty when the event has no actor.
 */
export function toHarborPayload(event: WebhookEvent, context: RenderContext): HarborPayload {
  return {
    type: HARBOR_EVENT_TYPES[event.type],
    occur_at: unixSeconds(event),
    operator: event.actor?.name ?? '',
    event_data: eventData(event, context),
  };
}

function eventData(event: WebhookEvent, context: RenderContext): HarborEventData {
  const repository: HarborRepository = {
    name: nameInProject(event),
    namespace: event.project,
    repo_full_name: event.repository,
    repo_type: context.projectPublic === true ? 'public' : 'private',
  };
  switch (event.type) {
    case 'artifact.pushed':
    case 'artifact.pulled':
    case 'artifact.deleted':
    case 'tag.created':
    case 'tag.deleted': {
      const reference = event.tag ?? event.digest;
      if (reference === null) return { repository };
      const resource = {
        digest: event.digest ?? undefined,
        tag: reference,
        resource_url: resourceUrl(event, context),
      };
      return { resources: [resource], repository };
    }
    case 'repository.created':
    case 'repository.deleted':
      return { repository };
    case 'scan.completed':
    case 'scan.failed': {
      const resource: HarborResource = {
        digest: event.digest ?? undefined,
        tag: event.tag ?? undefined,
        resource_url: resourceUrl(event, context),
        scan_overview: event.details?.summary,
      };
      return {
        resources: [resource],
        repository,
        scan: { scan_type: event.details?.scanType ?? 'vulnerability' },
        custom_attributes: customAttributes(event),
      };
    }
    case 'quota.warned':
    case 'quota.exceeded': {
      const resources =
        event.digest === null && event.tag === null
          ? undefined
          : [{ digest: event.digest ?? undefined, tag: event.tag ?? undefined }];
      return { resources, repository, custom_attributes: customAttributes(event) };
    }
    case 'replication.finished':
      return { replication: replication(event, context) };
  }
}

/** Harbor's `resource_url`: `host/repository:tag`, or `host/repository@digest` without a tag. */
function resourceUrl(event: WebhookEvent, context: RenderContext): string | undefined {
  const host = registryHost(context);
  if (event.tag !== null) return `${host}/${event.repository}:${event.tag}`;
  if (event.digest !== null) return `${host}/${event.repository}@${event.digest}`;
  return undefined;
}

/** Harbor carries a quota event's explanation as `custom_attributes.Details`; so do failed scans here. */
function customAttributes(event: WebhookEvent): Readonly<Record<string, string>> | undefined {
  const message = event.details?.message;
  return message === undefined ? undefined : { Details: message };
}

function replication(event: WebhookEvent, context: RenderContext): HarborReplication {
  const status = event.details?.status;
  const jobStatus = status === undefined ? undefined : (JOB_STATUS[status] ?? status);
  const reference = event.tag !== null ? `:${event.tag}` : event.digest !== null ? `@${event.digest}` : '';
  const artifact: HarborArtifactInfo = {
    type: 'artifact',
    status: jobStatus ?? '',
    name_tag: `${nameInProject(event)}${reference}`,
    references: event.digest === null ? [] : [event.digest],
  };
  return {
    // Harbor sends the bare host name here, without the port.
    harbor_hostname: new URL(context.registryUrl).hostname,
    job_status: jobStatus,
    description: event.details?.message,
    trigger_type: event.details?.trigger,
    successful_artifact: status === 'succeeded' ? [artifact] : undefined,
    failed_artifact: status === 'failed' ? [artifact] : undefined,
  };
}
