import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

// OCI image layouts: reading, walking and comparing them, and the layer tarballs they hold.

/** The sha256 digest of bytes, as `sha256:<hex>`. */
export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Media types of the documents a layout or registry holds. */
export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

const INDEX_TYPES: readonly string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList];
const MANIFEST_TYPES: readonly string[] = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest];

/** The platform of an index entry. */
export interface Platform {
  readonly architecture: string;
  readonly os: string;
}

/** An OCI content descriptor. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: Platform;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** An image manifest, as far as these tests read it. */
export interface ImageManifest {
  readonly schemaVersion: number;
  readonly mediaType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

/** An image index (or a layout's `index.json`). */
export interface ImageIndex {
  readonly schemaVersion: number;
  readonly mediaType?: string;
  readonly manifests: readonly Descriptor[];
}

/** An image config, as far as these tests read it. */
export interface ImageConfig {
  readonly architecture: string;
  readonly os: string;
  readonly rootfs: { readonly type: string; readonly diff_ids: readonly string[] };
}

const REF_NAME = 'org.opencontainers.image.ref.name';

function blobPath(layout: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  if (algorithm === undefined || hex === undefined) throw new Error(`not a digest: ${digest}`);
  return join(layout, 'blobs', algorithm, hex);
}

/** Parses JSON bytes; the caller asserts the shape it expects (`as`), the test checks the rest. */
export function parseJson(bytes: Buffer | string): unknown {
  return JSON.parse(bytes.toString());
}

/** Reads a layout's `index.json`. */
export async function readLayoutIndex(layout: string): Promise<ImageIndex> {
  return parseJson(await readFile(join(layout, 'index.json'))) as ImageIndex;
}

/** Reads a blob of a layout and checks that its bytes hash to its name. */
export async function readLayoutBlob(layout: string, digest: string): Promise<Buffer> {
  const bytes = await readFile(blobPath(layout, digest));
  const actual = digestOf(bytes);
  if (actual !== digest) throw new Error(`blob ${digest} of ${layout} hashes to ${actual}`);
  return bytes;
}

/** The descriptor that a layout's `index.json` names `tag`. */
export async function resolveLayoutTag(layout: string, tag: string): Promise<Descriptor> {
  const index = await readLayoutIndex(layout);
  const found = index.manifests.find((d) => d.annotations?.[REF_NAME] === tag);
  if (!found) throw new Error(`no ${tag} in ${layout}/index.json`);
  return found;
}

/** Everything one tag of a layout reaches: its root descriptor and every blob's bytes by digest. */
export interface ImageGraph {
  readonly root: Descriptor;
  readonly blobs: ReadonlyMap<string, Buffer>;
}

/**
 * Walks a tag of a layout (an index's children, each manifest's config and layers) and reads
 * every blob it reaches, checking each against its digest and its descriptor's size.
 */
export async function readImageGraph(layout: string, tag: string): Promise<ImageGraph> {
  return readImageGraphFrom(layout, await resolveLayoutTag(layout, tag));
}

/** Like {@link readImageGraph}, from a descriptor (e.g. the only entry of a saved layout). */
export async function readImageGraphFrom(layout: string, root: Descriptor): Promise<ImageGraph> {
  const blobs = new Map<string, Buffer>();
  const visit = async (descriptor: Descriptor): Promise<void> => {
    if (blobs.has(descriptor.digest)) return;
    const bytes = await readLayoutBlob(layout, descriptor.digest);
    if (bytes.length !== descriptor.size) {
      throw new Error(
        `blob ${descriptor.digest} has ${bytes.length} bytes, its descriptor says ${descriptor.size}`,
      );
    }
    blobs.set(descriptor.digest, bytes);
    if (INDEX_TYPES.includes(descriptor.mediaType)) {
      for (const child of (parseJson(bytes) as ImageIndex).manifests) await visit(child);
    } else if (MANIFEST_TYPES.includes(descriptor.mediaType)) {
      const manifest = parseJson(bytes) as ImageManifest;
      await visit(manifest.config);
      for (const layer of manifest.layers) await visit(layer);
    }
  };
  await visit(root);
  return { root, blobs };
}

/**
 * What differs between two image graphs: the root digest, blobs missing on either side, and
 * blobs with the same digest but other bytes. Empty when they are byte-identical.
 */
export function graphDifferences(expected: ImageGraph, actual: ImageGraph): string[] {
  const differences: string[] = [];
  if (expected.root.digest !== actual.root.digest) {
    differences.push(`root ${actual.root.digest}, expected ${expected.root.digest}`);
  }
  if (expected.root.mediaType !== actual.root.mediaType) {
    differences.push(`root media type ${actual.root.mediaType}, expected ${expected.root.mediaType}`);
  }
  for (const [digest, bytes] of expected.blobs) {
    const other = actual.blobs.get(digest);
    if (other === undefined) differences.push(`missing ${digest}`);
    else if (!other.equals(bytes)) differences.push(`other bytes for ${digest}`);
  }
  for (const digest of actual.blobs.keys()) {
    if (!expected.blobs.has(digest)) differences.push(`unexpected ${digest}`);
  }
  return differences;
}

/** The blob of a graph with this digest (throws when it has none). */
export function graphBlob(graph: ImageGraph, digest: string): Buffer {
  const bytes = graph.blobs.get(digest);
  if (bytes === undefined) throw new Error(`no blob ${digest} in the graph of ${graph.root.digest}`);
  return bytes;
}

/**
 * The regular files of a layer tarball (gzip or not), by path without a leading `/` or `./`.
 * Read here rather than with GNU tar, which refuses the layers umoci 0.4.7 writes: they end
 * right after the last file's data, with neither its padding nor the end-of-archive blocks.
 */
export function readLayerFiles(layer: Buffer): Map<string, Buffer> {
  const tar = layer[0] === 0x1f && layer[1] === 0x8b ? gunzipSync(layer) : layer;
  const files = new Map<string, Buffer>();
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const field = (start: number, length: number): string =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1) || '0';
    const prefix = field(345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    const data = tar.subarray(offset + 512, offset + 512 + size);
    if (data.length !== size) throw new Error(`layer tarball ends inside ${name}`);
    offset += 512 + Math.ceil(size / 512) * 512;
    longName = undefined;
    if (type === 'x') longName = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'))?.[1];
    else if (type === 'L') longName = data.toString('utf8').replace(/\0.*$/s, '');
    else if (type === '0' || type === '7') files.set(name.replace(/^(\.\/|\/)+/, ''), Buffer.from(data));
  }
  return files;
}

/** The files of an image from its layer tarballs in order, later layers over earlier ones. */
export function filesOfLayers(layers: readonly Buffer[]): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const layer of layers) for (const [path, bytes] of readLayerFiles(layer)) files.set(path, bytes);
  return files;
}

/** The digest of each file by path: compares files and prints well when they differ. */
export function fileDigests(files: ReadonlyMap<string, Buffer>): Record<string, string> {
  return Object.fromEntries([...files].map(([path, bytes]) => [path, digestOf(bytes)]));
}

/**
 * Writes a multi-platform image index into a layout by hand (its blob, and an entry in
 * `index.json` named `tag`) over images already tagged in it, each with its platform.
 */
export async function writeImageIndex(
  layout: string,
  tag: string,
  children: readonly { readonly tag: string; readonly platform: Platform }[],
): Promise<Descriptor> {
  const manifests: Descriptor[] = [];
  for (const child of children) {
    const found = await resolveLayoutTag(layout, child.tag);
    manifests.push({
      mediaType: found.mediaType,
      digest: found.digest,
      size: found.size,
      platform: child.platform,
    });
  }
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests }));
  const descriptor: Descriptor = {
    mediaType: MEDIA_TYPES.ociIndex,
    digest: digestOf(bytes),
    size: bytes.length,
  };
  await writeFile(blobPath(layout, descriptor.digest), bytes);
  const index = await readLayoutIndex(layout);
  const updated: ImageIndex = {
    ...index,
    manifests: [
      ...index.manifests.filter((d) => d.annotations?.[REF_NAME] !== tag),
      { ...descriptor, annotations: { [REF_NAME]: tag } },
    ],
  };
  await writeFile(join(layout, 'index.json'), JSON.stringify(updated));
  return descriptor;
}
