import { isDigest, type Digest } from './digest';
import { OciError } from './errors';
import { isStorableJson, mayHoldUnstorableText } from './text';
import { isIndexMediaType, isManifestMediaType, MediaType, type ManifestMediaType } from './media-types';

/** The largest manifest Berth accepts, as Distribution does (4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** A content descriptor (OCI image spec, descriptor.md), validated. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly urls?: readonly string[];
  readonly platform?: Readonly<Record<string, unknown>>;
}

/**
 * What Berth needs to know about a manifest it stores: what it is and everything it points at.
 * `blobs` are the config and layers of an image manifest; `manifests` the children of an index.
 */
export interface ParsedManifest {
  readonly mediaType: ManifestMediaType;
  readonly kind: 'image' | 'index';
  /** `artifactType`, or for an image manifest without one the config's media type (referrers API rule). */
  readonly artifactType: string | null;
  readonly config: Descriptor | null;
  /** Blobs the manifest needs in the repository (config and layers, minus non-distributable ones). */
  readonly blobs: readonly Descriptor[];
  /** Manifests an index needs in the repository. */
  readonly manifests: readonly Descriptor[];
  readonly subject: Descriptor | null;
  readonly annotations: Readonly<Record<string, string>> | null;
}

const SCHEMA1_TYPES: readonly string[] = [MediaType.DockerSchema1, MediaType.DockerSchema1Signed];

/**
 * Validates a manifest's bytes against its declared media type (the `Content-Type` of the PUT)
 * and extracts its references. Throws `MANIFEST_INVALID` for bad JSON or structure, `UNSUPPORTED`
 * for Docker schema 1, and `MANIFEST_TOO_LARGE` past {@link MAX_MANIFEST_BYTES}.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new OciError('MANIFEST_TOO_LARGE', `manifest exceeds ${MAX_MANIFEST_BYTES} bytes`, {
      limit: MAX_MANIFEST_BYTES,
    });
  }
  const declared = normaliseContentType(contentType);
  if (declared !== null && SCHEMA1_TYPES.includes(declared)) {
    throw new OciError('UNSUPPORTED', 'Docker schema 1 manifests are not supported');
  }
  let body: unknown;
  const text = Buffer.from(bytes).toString('utf8');
  try {
    body = JSON.parse(text);
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  // Its annotations, media and artifact types are stored in PostgreSQL; its bytes are served as
  // pushed, so a manifest is refused whole rather than stored with text changed.
  if (mayHoldUnstorableText(text) && !isStorableJson(body))
    throw invalid('manifest contains text that cannot be stored: U+0000 or an unpaired surrogate');
  if (!isObject(body)) throw invalid('manifest is not a JSON object');
  if (body.schemaVersion === 1)
    throw new OciError('UNSUPPORTED', 'Docker schema 1 manifests are not supported');
  if (body.schemaVersion !== 2) throw invalid('schemaVersion must be 2');

  const mediaType = resolveMediaType(body, declared);
  const kind = isIndexMediaType(mediaType) ? 'index' : 'image';
  const subject = body.subject === undefined ? null : descriptor(body.subject, 'subject');
  const annotations = body.annotations === undefined ? null : stringMap(body.annotations, 'annotations');
  const artifactType = optionalString(body.artifactType, 'artifactType');

  if (kind === 'index') {
    if (!Array.isArray(body.manifests)) throw invalid('manifests must be an array');
    const manifests = body.manifests.map((entry: unknown, i: number) => descriptor(entry, `manifests[${i}]`));
    return { mediaType, kind, artifactType, config: null, blobs: [], manifests, subject, annotations };
  }

  if (body.config === undefined) throw invalid('config is required');
  const config = descriptor(body.config, 'config');
  if (!Array.isArray(body.layers)) throw invalid('layers must be an array');
  const layers = body.layers.map((entry: unknown, i: number) => descriptor(entry, `layers[${i}]`));
  return {
    mediaType,
    kind,
    artifactType: artifactType ?? config.mediaType,
    config,
    blobs: [config, ...layers.filter((layer) => !isNonDistributable(layer))],
    manifests: [],
    subject,
    annotations,
  };
}

/** Strips parameters (`; charset=…`) and whitespace from a Content-Type. */
function normaliseContentType(value: string | undefined): string | null {
  if (value === undefined) return null;
  const type = value.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === '' ? null : type;
}

function resolveMediaType(body: Record<string, unknown>, declared: string | null): ManifestMediaType {
  const inBody = optionalString(body.mediaType, 'mediaType');
  if (inBody !== null && SCHEMA1_TYPES.includes(inBody)) {
    throw new OciError('UNSUPPORTED', 'Docker schema 1 manifests are not supported');
  }
  if (inBody !== null && declared !== null && declared !== 'application/json' && inBody !== declared) {
    throw invalid(`mediaType "${inBody}" does not match Content-Type "${declared}"`);
  }
  const candidate = inBody ?? (declared === 'application/json' ? null : declared) ?? inferMediaType(body);
  if (!isManifestMediaType(candidate)) throw invalid(`unsupported manifest media type "${candidate}"`);
  return candidate;
}

function inferMediaType(body: Record<string, unknown>): string {
  if (Array.isArray(body.manifests)) return MediaType.OciIndex;
  if (body.config !== undefined) return MediaType.OciManifest;
  throw invalid('cannot determine the manifest media type');
}

/** Docker's foreign layers and OCI non-distributable layers are fetched from their URLs, not the registry. */
function isNonDistributable(layer: Descriptor): boolean {
  return (layer.urls?.length ?? 0) > 0 && /foreign|nondistributable/.test(layer.mediaType);
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(`${where}.mediaType is required`);
  if (typeof digest !== 'string' || !isDigest(digest)) throw invalid(`${where}.digest is not a valid digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  const result: {
    mediaType: string;
    digest: Digest;
    size: number;
    artifactType?: string;
    annotations?: Record<string, string>;
    urls?: string[];
    platform?: Record<string, unknown>;
  } = { mediaType, digest, size };
  const artifactType = optionalString(value.artifactType, `${where}.artifactType`);
  if (artifactType !== null) result.artifactType = artifactType;
  if (value.annotations !== undefined)
    result.annotations = stringMap(value.annotations, `${where}.annotations`);
  if (value.urls !== undefined) {
    if (!Array.isArray(value.urls) || !value.urls.every((url) => typeof url === 'string')) {
      throw invalid(`${where}.urls must be an array of strings`);
    }
    result.urls = value.urls;
  }
  if (value.platform !== undefined) {
    if (!isObject(value.platform)) throw invalid(`${where}.platform must be an object`);
    result.platform = value.platform;
  }
  return result;
}

function stringMap(value: unknown, where: string): Record<string, string> {
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(`${where} must map strings to strings`);
  }
  return value as Record<string, string>;
}

function optionalString(value: unknown, where: string): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string') throw invalid(`${where} must be a string`);
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(message: string): OciError {
  return new OciError('MANIFEST_INVALID', message, { reason: message });
}
