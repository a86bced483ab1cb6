import { MEDIA_TYPES } from './oci-layout';
import type { OciClient } from './oci-client';

// Reading back from the registry over HTTP, to check what the clients stored.

const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.dockerManifestList,
].join(', ');

/** The bytes a registry serves for a manifest (by tag or digest), or an error with its status. */
export async function fetchManifest(
  registry: OciClient,
  repository: string,
  reference: string,
): Promise<Buffer> {
  const response = await registry.request('GET', `/v2/${repository}/manifests/${reference}`, {
    headers: { accept: MANIFEST_ACCEPT },
  });
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) {
    throw new Error(`GET manifest ${repository}:${reference}: ${response.status} ${body.toString()}`);
  }
  return body;
}

/** The bytes a registry serves for a blob, or an error with its status. */
export async function fetchBlob(registry: OciClient, repository: string, digest: string): Promise<Buffer> {
  const response = await registry.request('GET', `/v2/${repository}/blobs/${digest}`);
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) {
    throw new Error(`GET blob ${repository}@${digest}: ${response.status} ${body.toString().slice(0, 500)}`);
  }
  return body;
}
