import type { WebhookEvent } from '../event';

/** What a payload needs to know about the registry that sends it, beyond the event itself. */
export interface RenderContext {
  /** The registry's external base URL (`https://registry.example.com`), for links in payloads. */
  readonly registryUrl: string;
  /** The id of the running instance that renders the payload (Distribution's `source.instanceID`). */
  readonly instanceId: string;
  /** Whether the event's project is public (Harbor's `repo_type`); private unless said. */
  readonly projectPublic?: boolean;
  /** This node's `host:port` (Distribution's `source.addr`); the registry's host unless said. */
  readonly nodeAddr?: string;
}

/** The registry's external base URL without a trailing slash. */
export function baseUrl(context: RenderContext): string {
  return context.registryUrl.replace(/\/+$/, '');
}

/** The registry's `host[:port]`, as image references spell it (`registry.example.com:5000`). */
export function registryHost(context: RenderContext): string {
  return new URL(context.registryUrl).host;
}

/** An event's time in Unix seconds; an unreadable time is a bug upstream, so it throws. */
export function unixSeconds(event: WebhookEvent): number {
  const ms = Date.parse(event.occurredAt);
  if (Number.isNaN(ms))
    throw new Error(`event ${event.id} has an unreadable occurredAt "${event.occurredAt}"`);
  return Math.floor(ms / 1000);
}

/** The repository name without its project prefix (`team/app/api` → `app/api`). */
export function nameInProject(event: WebhookEvent): string {
  const prefix = `${event.project}/`;
  return event.repository.startsWith(prefix) ? event.repository.slice(prefix.length) : event.repository;
}
