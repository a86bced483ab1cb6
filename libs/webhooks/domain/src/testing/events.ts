import type { WebhookEvent } from '../lib/event';
import type { RenderContext } from '../lib/formats/render-context';

/** A manifest digest for examples. */
export const DIGEST = 'sha256:' + 'ab'.repeat(32);

/** An event for tests: `alice` pushed `team/app:v1.2.0`, unless overridden. */
export function webhookEvent(overrides: Partial<WebhookEvent> = {}): WebhookEvent {
  return {
    id: '0b7e1c52-6c1e-4f43-9d55-1f0f3f5e7a10',
    type: 'artifact.pushed',
    occurredAt: '2024-05-01T12:00:00.250Z',
    actor: { name: 'alice', kind: 'user' },
    requestId: 'req-42',
    project: 'team',
    repository: 'team/app',
    digest: DIGEST,
    tag: 'v1.2.0',
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 1234,
    ...overrides,
  };
}

/** The render context of a registry at `https://registry.example.com:8443`. */
export const CONTEXT: RenderContext = {
  registryUrl: 'https://registry.example.com:8443/',
  instanceId: 'instance-1',
};
