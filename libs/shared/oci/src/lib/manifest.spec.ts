import { OciError } from './errors';
import { MAX_MANIFEST_BYTES, parseManifest } from './manifest';
import { MediaType } from './media-types';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));
const image = {
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('1'), size: 10 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('2'), size: 20 }],
};

function codeOf(work: () => unknown): string | undefined {
  try {
    work();
    return undefined;
  } catch (error) {
    return error instanceof OciError ? error.code : 'not an OciError';
  }
}

describe('parseManifest', () => {
  it('extracts the config and layers of an image manifest, with the config type as artifact type', () => {
    const sut = parseManifest(bytes(image), MediaType.OciManifest);
    expect(sut.kind).toBe('image');
    expect(sut.blobs.map((b) => b.digest)).toEqual([d('1'), d('2')]);
    expect(sut.artifactType).toBe('application/vnd.oci.image.config.v1+json');
    expect(sut.subject).toBeNull();
  });

  it('prefers artifactType and reads subject and annotations', () => {
    const sut = parseManifest(
      bytes({
        ...image,
        artifactType: 'application/x',
        subject: { mediaType: MediaType.OciManifest, digest: d('3'), size: 5 },
        annotations: { a: 'b' },
      }),
      `${MediaType.OciManifest}; charset=utf-8`,
    );
    expect(sut.artifactType).toBe('application/x');
    expect(sut.subject?.digest).toBe(d('3'));
    expect(sut.annotations).toEqual({ a: 'b' });
  });

  it('extracts the children of an index and of a Docker manifest list', () => {
    for (const mediaType of [MediaType.OciIndex, MediaType.DockerManifestList]) {
      const sut = parseManifest(
        bytes({
          schemaVersion: 2,
          mediaType,
          manifests: [
            { mediaType: MediaType.OciManifest, digest: d('4'), size: 1, platform: { os: 'linux' } },
          ],
        }),
        mediaType,
      );
      expect(sut.kind).toBe('index');
      expect(sut.manifests.map((m) => m.digest)).toEqual([d('4')]);
      expect(sut.blobs).toEqual([]);
    }
  });

  it('takes the media type from Content-Type when the body omits it', () => {
    const { mediaType: _omitted, ...body } = image;
    expect(parseManifest(bytes(body), MediaType.OciManifest).mediaType).toBe(MediaType.OciManifest);
  });

  it('skips foreign layers, which clients fetch from their URLs', () => {
    const foreign = {
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      digest: d('5'),
      size: 1,
      urls: ['https://example.com/l'],
    };
    const sut = parseManifest(
      bytes({ ...image, mediaType: MediaType.DockerManifest, layers: [foreign] }),
      MediaType.DockerManifest,
    );
    expect(sut.blobs.map((b) => b.digest)).toEqual([d('1')]);
  });

  it.each([
    ['not JSON', Buffer.from('{'), MediaType.OciManifest, 'MANIFEST_INVALID'],
    ['a JSON array', bytes([]), MediaType.OciManifest, 'MANIFEST_INVALID'],
    ['schemaVersion 3', bytes({ ...image, schemaVersion: 3 }), MediaType.OciManifest, 'MANIFEST_INVALID'],
    ['a media type that differs from Content-Type', bytes(image), MediaType.OciIndex, 'MANIFEST_INVALID'],
    ['an unknown media type', bytes({ ...image, mediaType: 'text/plain' }), 'text/plain', 'MANIFEST_INVALID'],
    ['no config', bytes({ ...image, config: undefined }), MediaType.OciManifest, 'MANIFEST_INVALID'],
    [
      'a bad layer digest',
      bytes({ ...image, layers: [{ mediaType: 'x', digest: 'sha256:zz', size: 1 }] }),
      MediaType.OciManifest,
      'MANIFEST_INVALID',
    ],
    [
      'a negative size',
      bytes({ ...image, layers: [{ mediaType: 'x', digest: d('6'), size: -1 }] }),
      MediaType.OciManifest,
      'MANIFEST_INVALID',
    ],
    [
      'non-string annotations',
      bytes({ ...image, annotations: { a: 1 } }),
      MediaType.OciManifest,
      'MANIFEST_INVALID',
    ],
    [
      'an annotation with an unpaired surrogate',
      Buffer.from(JSON.stringify({ ...image, annotations: { a: 'x' } }).replace('"x"', String.raw`"\ud800"`)),
      MediaType.OciManifest,
      'MANIFEST_INVALID',
    ],
    [
      'a U+0000 in an annotation key',
      bytes({ ...image, annotations: { 'a\u0000': 'x' } }),
      MediaType.OciManifest,
      'MANIFEST_INVALID',
    ],
    [
      'a U+0000 in the artifact type',
      bytes({ ...image, artifactType: 'application/x\u0000' }),
      MediaType.OciManifest,
      'MANIFEST_INVALID',
    ],
    ['Docker schema 1 by Content-Type', bytes(image), MediaType.DockerSchema1Signed, 'UNSUPPORTED'],
    ['Docker schema 1 by body', bytes({ schemaVersion: 1, fsLayers: [] }), undefined, 'UNSUPPORTED'],
  ])('refuses %s', (_label, body, contentType, code) => {
    expect(codeOf(() => parseManifest(body, contentType))).toBe(code);
  });

  it('accepts an escaped backslash before u0000, which is plain text', () => {
    const sut = parseManifest(bytes({ ...image, annotations: { a: '\\u0000' } }), MediaType.OciManifest);
    expect(sut.annotations).toEqual({ a: '\\u0000' });
  });

  it('refuses a manifest over the limit with MANIFEST_TOO_LARGE (413)', () => {
    let caught: unknown;
    try {
      parseManifest(Buffer.alloc(MAX_MANIFEST_BYTES + 1), MediaType.OciManifest);
    } catch (error) {
      caught = error;
    }
    expect((caught as OciError).code).toBe('MANIFEST_TOO_LARGE');
    expect((caught as OciError).status).toBe(413);
  });
});
