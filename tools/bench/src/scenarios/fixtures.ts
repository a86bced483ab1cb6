import { createHash, randomBytes } from 'node:crypto';
import { randomMemoryBlob, writeRandomBlob, writeRandomBlobs, type MemoryBlob } from '../blob-fixtures';
import type { BenchConfig } from '../config/bench.config';
import type { BenchFixtures, ImageFixture, TargetContext } from './scenario';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Layers in the image whose manifest the manifest and tags scenarios serve; typical of a small app image. */
const IMAGE_LAYERS = 3;

/** Size of each of that image's layers. */
const IMAGE_LAYER_BYTES = 2048;

/** Size of the warm-up blob: enough to exercise the streaming paths, small enough to be quick. */
const WARMUP_BLOB_BYTES = 8 * 1024 * 1024;

/** Size of each blob in the HEAD storm; a HEAD's cost does not depend on it. */
const HEAD_BLOB_BYTES = 1024;

/** Generates every blob and manifest of the run in `dir` (large blobs) and memory (small ones). */
export async function prepareFixtures(config: BenchConfig, dir: string): Promise<BenchFixtures> {
  return {
    monolithic: await writeRandomBlobs(
      dir,
      'monolithic',
      config.monolithic.count,
      config.monolithic.blobBytes,
    ),
    chunked: await writeRandomBlobs(dir, 'chunked', config.chunked.count, config.chunked.blobBytes),
    warmup: await writeRandomBlob(`${dir}/warmup`, WARMUP_BLOB_BYTES),
    image: randomImage(IMAGE_LAYERS, IMAGE_LAYER_BYTES),
    headBlobs: Array.from({ length: config.blobHead.blobs }, () => randomMemoryBlob(HEAD_BLOB_BYTES)),
  };
}

/**
 * A valid OCI image manifest over a JSON config and `layerCount` random layers of `layerBytes`;
 * every call gives a different image (layers, config and manifest digests).
 */
export function randomImage(layerCount: number, layerBytes: number): ImageFixture {
  const layers = Array.from({ length: layerCount }, () => randomMemoryBlob(layerBytes));
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/local/bin:/usr/bin:/bin'], Cmd: ['/app'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      history: layers.map(() => ({ created_by: 'berth bench' })),
    }),
  );
  const config: MemoryBlob = { bytes: configBytes, size: configBytes.length, digest: sha256(configBytes) };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config.digest,
        size: config.size,
      },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: l.digest,
        size: l.size,
      })),
      annotations: {
        'org.opencontainers.image.title': 'berth-bench',
        'org.opencontainers.image.revision': randomBytes(20).toString('hex'),
      },
    }),
  );
  return { config, layers, manifest, manifestDigest: sha256(manifest), mediaType: OCI_MANIFEST };
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Pushes the image fixture's blobs into `repo` and its manifest under `tag`. */
export async function pushImage(
  ctx: TargetContext,
  image: ImageFixture,
  repo: string,
  tag: string,
): Promise<void> {
  for (const blob of [image.config, ...image.layers]) {
    await ctx.registry.pushMonolithic(repo, blob, blob.bytes);
  }
  await ctx.registry.putManifest(repo, tag, image.manifest, image.mediaType, image.manifestDigest);
}
