import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startBerth, type RunningBerth } from '@berth/testing';
import {
  CommandError,
  Scratch,
  makeTempDir,
  removeTree,
  run,
  writeRandomFiles,
} from './support/clients/command';
import { ContainerStorage } from './support/clients/containers-storage';
import { skopeo } from './support/clients/skopeo';
import { buildUmociImage, createLayout } from './support/clients/umoci';
import {
  MEDIA_TYPES,
  digestOf,
  fileDigests,
  filesOfLayers,
  graphBlob,
  graphDifferences,
  parseJson,
  readImageGraph,
  readImageGraphFrom,
  readLayoutIndex,
  writeImageIndex,
  type ImageConfig,
  type ImageGraph,
  type ImageIndex,
  type ImageManifest,
} from './support/oci-layout';
import { fetchBlob, fetchManifest } from './support/read-back';
import { provisionRobot } from './support/auth';
import { OciClient, repoName, type Credentials } from './support/oci-client';
import { SHAPES } from './support/shapes';

/** What `podman image inspect` says about an image, as far as these tests read it. */
interface PodmanImage {
  readonly Id: string;
  readonly Digest: string;
  readonly RepoDigests: readonly string[];
  readonly RootFS: { readonly Layers: readonly string[] };
}

/** The manifest at the root of a graph, parsed. */
function rootManifest(graph: ImageGraph): ImageManifest {
  return parseJson(graphBlob(graph, graph.root.digest)) as ImageManifest;
}

/** The files of the image at the root of a graph. */
function imageFiles(graph: ImageGraph): Map<string, Buffer> {
  return filesOfLayers(rootManifest(graph).layers.map((layer) => graphBlob(graph, layer.digest)));
}

// Real registry clients against each shape of Berth: what they push must come back byte for byte.
describe.each(SHAPES)('registry clients: $label', (shape) => {
  let berth: RunningBerth;
  let robot: Credentials;
  let registry: OciClient;
  let authFile: string;
  const previousAuthFile = process.env['REGISTRY_AUTH_FILE'];
  const scratch = new Scratch();

  const docker = (repository: string, tag: string): string => `docker://${berth.host}/${repository}:${tag}`;

  beforeAll(async () => {
    berth = await startBerth(shape);
    robot = await provisionRobot(berth);
    registry = new OciClient(berth.url, robot);
    // skopeo login writes the containers auth file that skopeo, buildah and podman all read.
    authFile = join(await makeTempDir('berth-auth'), 'auth.json');
    await run('skopeo', [
      'login',
      '--tls-verify=false',
      '--authfile',
      authFile,
      '--username',
      robot.username,
      '--password',
      robot.password,
      berth.host,
    ]);
    process.env['REGISTRY_AUTH_FILE'] = authFile;
  });

  afterEach(async () => {
    await scratch.cleanup();
  });

  afterAll(async () => {
    if (previousAuthFile === undefined) delete process.env['REGISTRY_AUTH_FILE'];
    else process.env['REGISTRY_AUTH_FILE'] = previousAuthFile;
    await removeTree(dirname(authFile));
    await scratch.cleanup();
    await berth.stop();
  });

  it('refuses a login with a wrong secret, and logs podman in with the right one', async () => {
    const other = join(dirname(authFile), 'podman-auth.json');
    const login = (password: string) =>
      run('podman', [
        'login',
        '--tls-verify=false',
        '--authfile',
        other,
        '-u',
        robot.username,
        '-p',
        password,
        berth.host,
      ]);
    await expect(login('not-the-secret')).rejects.toThrow(/401|unauthorized|invalid/i);
    await login(robot.password);
    expect(JSON.stringify(JSON.parse(await readFile(other, 'utf8')))).toContain(berth.host);
  });

  describe('skopeo', () => {
    it('pushes an umoci layout and pulls it back byte-identical', async () => {
      const work = await scratch.dir('skopeo');
      const source = join(work, 'source');
      await createLayout(source);
      const image = await buildUmociImage(source, 'v1', {
        architecture: 'amd64',
        layers: [{ 'random.bin': 3_000_000, 'nested/small.txt': 100 }, { 'second.bin': 60_000 }],
      });
      const repository = repoName('skopeo');

      await skopeo.copy(`oci:${source}:v1`, docker(repository, 'v1'));
      const pulled = join(work, 'pulled');
      await skopeo.copy(docker(repository, 'v1'), `oci:${pulled}:v1`);

      const pushed = await readImageGraph(source, 'v1');
      const returned = await readImageGraph(pulled, 'v1');
      expect(returned.blobs.size).toBe(4); // manifest, config, two layers
      expect(graphDifferences(pushed, returned)).toEqual([]);
      expect(returned.root.digest).toBe(image.descriptor.digest);

      const raw = await skopeo.inspectRaw(docker(repository, 'v1'));
      expect(digestOf(raw)).toBe(image.descriptor.digest);
      expect(raw.equals(graphBlob(pushed, image.descriptor.digest))).toBe(true);

      // Berth itself serves the config and every layer with the pushed bytes.
      const manifest = rootManifest(pushed);
      for (const descriptor of [manifest.config, ...manifest.layers]) {
        const served = await fetchBlob(registry, repository, descriptor.digest);
        expect(served.equals(graphBlob(pushed, descriptor.digest))).toBe(true);
      }
      expect(fileDigests(imageFiles(returned))).toEqual(fileDigests(image.files));
    });

    it('converts to Docker schema 2 with --format v2s2 and serves that manifest as pushed', async () => {
      const work = await scratch.dir('skopeo-v2s2');
      const source = join(work, 'source');
      await createLayout(source);
      await buildUmociImage(source, 'v1', { architecture: 'amd64', layers: [{ 'a.bin': 50_000 }] });
      const sourceGraph = await readImageGraph(source, 'v1');
      const repository = repoName('skopeo-v2s2');

      await skopeo.copy(`oci:${source}:v1`, docker(repository, 'v1'), ['--format', 'v2s2']);
      const raw = await skopeo.inspectRaw(docker(repository, 'v1'));
      const manifest = parseJson(raw) as ImageManifest;
      expect(manifest.mediaType).toBe(MEDIA_TYPES.dockerManifest);
      expect(manifest.layers.map((layer) => [layer.mediaType, layer.digest])).toEqual(
        rootManifest(sourceGraph).layers.map((layer) => [
          'application/vnd.docker.image.rootfs.diff.tar.gzip',
          layer.digest,
        ]),
      );
      const head = await registry.request('HEAD', `/v2/${repository}/manifests/v1`, {
        headers: { accept: `${MEDIA_TYPES.dockerManifest}, ${MEDIA_TYPES.ociManifest}` },
      });
      expect(head.headers.get('content-type')).toBe(MEDIA_TYPES.dockerManifest);
      expect(head.headers.get('docker-content-digest')).toBe(digestOf(raw));

      // The `dir:` transport keeps the manifest as served: the same bytes, and the same blobs.
      const pulled = join(work, 'dir');
      await skopeo.copy(docker(repository, 'v1'), `dir:${pulled}`);
      expect((await readFile(join(pulled, 'manifest.json'))).equals(raw)).toBe(true);
      for (const descriptor of [manifest.config, ...manifest.layers]) {
        const bytes = await readFile(join(pulled, descriptor.digest.replace('sha256:', '')));
        expect(digestOf(bytes)).toBe(descriptor.digest);
        expect(bytes.equals(await fetchBlob(registry, repository, descriptor.digest))).toBe(true);
      }
      for (const layer of manifest.layers) {
        expect(
          graphBlob(sourceGraph, layer.digest).equals(await fetchBlob(registry, repository, layer.digest)),
        ).toBe(true);
      }
    });

    it('copies a multi-platform index with --all byte-identical, and one platform with --override-arch', async () => {
      const work = await scratch.dir('skopeo-index');
      const source = join(work, 'source');
      await createLayout(source);
      const amd64 = await buildUmociImage(source, 'amd64', {
        architecture: 'amd64',
        layers: [{ 'amd64.bin': 150_000 }],
      });
      const arm64 = await buildUmociImage(source, 'arm64', {
        architecture: 'arm64',
        layers: [{ 'arm64.bin': 120_000 }, { 'extra.txt': 300 }],
      });
      const index = await writeImageIndex(source, 'multi', [
        { tag: 'amd64', platform: { architecture: 'amd64', os: 'linux' } },
        { tag: 'arm64', platform: { architecture: 'arm64', os: 'linux' } },
      ]);
      const repository = repoName('skopeo-index');

      await skopeo.copy(`oci:${source}:multi`, docker(repository, 'multi'), ['--all']);
      const pushed = await readImageGraph(source, 'multi');
      expect(pushed.blobs.size).toBe(1 + 2 + 2 + 3); // index, two manifests, two configs, three layers

      const raw = await skopeo.inspectRaw(docker(repository, 'multi'));
      expect(raw.equals(graphBlob(pushed, index.digest))).toBe(true);
      const served = parseJson(raw) as ImageIndex;
      expect(served.mediaType).toBe(MEDIA_TYPES.ociIndex);
      expect(served.manifests.map((m) => [m.digest, m.platform?.architecture])).toEqual([
        [amd64.descriptor.digest, 'amd64'],
        [arm64.descriptor.digest, 'arm64'],
      ]);

      const all = join(work, 'all');
      await skopeo.copy(docker(repository, 'multi'), `oci:${all}:multi`, ['--all']);
      expect(graphDifferences(pushed, await readImageGraph(all, 'multi'))).toEqual([]);

      const armOnly = join(work, 'arm-only');
      await skopeo.copy(docker(repository, 'multi'), `oci:${armOnly}:arm`, ['--override-arch', 'arm64']);
      const arm = await readImageGraph(armOnly, 'arm');
      expect(arm.root.digest).toBe(arm64.descriptor.digest);
      expect(graphDifferences(await readImageGraph(source, 'arm64'), arm)).toEqual([]);
      const config = parseJson(graphBlob(arm, rootManifest(arm).config.digest)) as ImageConfig;
      expect([config.architecture, config.os]).toEqual(['arm64', 'linux']);
      expect(fileDigests(imageFiles(arm))).toEqual(fileDigests(arm64.files));
    });

    it('copies between repositories by mounting layers, lists tags, and deletes by tag', async () => {
      const work = await scratch.dir('skopeo-repos');
      const source = join(work, 'source');
      await createLayout(source);
      const first = await buildUmociImage(source, 'v1', {
        architecture: 'amd64',
        layers: [{ 'one.bin': 100_000 }, { 'two.bin': 20_000 }],
      });
      const second = await buildUmociImage(source, 'v2', {
        architecture: 'amd64',
        layers: [{ 'x.bin': 5_000 }],
      });
      const a = repoName('skopeo-a');
      const b = repoName('skopeo-b');
      await skopeo.copy(`oci:${source}:v1`, docker(a, 'v1'));
      await skopeo.copy(`oci:${source}:v2`, docker(a, 'v2'));
      expect(await skopeo.listTags(`docker://${berth.host}/${a}`)).toEqual(['v1', 'v2']);

      // Registry to registry: skopeo knows (from its blob info cache) that the layers are in `a`
      // and asks Berth to mount them rather than upload them again.
      const copied = await skopeo.copy(docker(a, 'v1'), docker(b, 'copy'), ['--debug']);
      const layers = rootManifest(await readImageGraph(source, 'v1')).layers;
      for (const layer of layers) {
        expect(copied.stderr).toContain(`mount=${encodeURIComponent(layer.digest)}`);
      }
      expect(copied.stderr.match(/\.\.\. mount OK/g)?.length).toBe(layers.length);
      expect(
        (await skopeo.inspectRaw(docker(b, 'copy'))).equals(await fetchManifest(registry, a, 'v1')),
      ).toBe(true);
      expect(digestOf(await fetchManifest(registry, b, 'copy'))).toBe(first.descriptor.digest);
      expect(await skopeo.listTags(`docker://${berth.host}/${b}`)).toEqual(['copy']);

      // Deleting in `a` removes that manifest from `a` only.
      await skopeo.delete(docker(a, 'v2'));
      expect(await skopeo.listTags(`docker://${berth.host}/${a}`)).toEqual(['v1']);
      await expect(fetchManifest(registry, a, second.descriptor.digest)).rejects.toThrow(/404/);
      await expect(
        skopeo.inspectRaw(`docker://${berth.host}/${a}@${second.descriptor.digest}`),
      ).rejects.toThrow(CommandError);

      // Deleting the copy in `b` leaves `a`'s image, and the layers `b` mounted from it, whole.
      await skopeo.delete(docker(b, 'copy'));
      await expect(fetchManifest(registry, b, 'copy')).rejects.toThrow(/404/);
      const pulled = join(work, 'pulled');
      await skopeo.copy(docker(a, 'v1'), `oci:${pulled}:v1`);
      expect(
        graphDifferences(await readImageGraph(source, 'v1'), await readImageGraph(pulled, 'v1')),
      ).toEqual([]);
    });
  });

  describe('buildah and podman', () => {
    it('builds and pushes with buildah, pulls, saves and pushes again with podman', async () => {
      const work = await scratch.dir('buildah');
      const builder = await ContainerStorage.create(join(work, 'buildah'));
      scratch.defer(() => builder.reset());
      const context = join(work, 'context');
      const files = await writeRandomFiles(context, { 'payload.bin': 250_000, 'hello.txt': 64 });
      const repository = repoName('buildah');

      const container = (await builder.buildah(['from', 'scratch'])).stdout.trim();
      await builder.buildah(['copy', container, join(context, 'payload.bin'), '/payload.bin']);
      await builder.buildah(['copy', container, join(context, 'hello.txt'), '/etc/hello.txt']);
      await builder.buildah(['config', '--cmd', '/payload.bin', container]);
      await builder.buildah([
        'commit',
        '--quiet',
        '--iidfile',
        join(work, 'iid'),
        container,
        'localhost/e2e:v1',
      ]);
      const imageId = (await readFile(join(work, 'iid'), 'utf8')).trim();
      await builder.buildah([
        'push',
        '--tls-verify=false',
        '--digestfile',
        join(work, 'pushed-digest'),
        'localhost/e2e:v1',
        docker(repository, 'v1'),
      ]);
      const pushedDigest = (await readFile(join(work, 'pushed-digest'), 'utf8')).trim();

      // What Berth holds: the pushed manifest, buildah's config (its digest is the image id), and
      // one layer whose uncompressed bytes hash to the config's diff id.
      const manifestBytes = await fetchManifest(registry, repository, 'v1');
      expect(digestOf(manifestBytes)).toBe(pushedDigest);
      const manifest = parseJson(manifestBytes) as ImageManifest;
      expect(manifest.config.digest).toBe(imageId);
      const configBytes = await fetchBlob(registry, repository, imageId);
      expect(digestOf(configBytes)).toBe(imageId);
      const config = parseJson(configBytes) as ImageConfig;
      expect(manifest.layers).toHaveLength(1);
      const layer = await fetchBlob(registry, repository, manifest.layers[0]!.digest);
      expect(digestOf(gunzipSync(layer))).toBe(config.rootfs.diff_ids[0]);

      // podman, on a storage of its own, pulls it for real.
      const runner = await ContainerStorage.create(join(work, 'podman'));
      scratch.defer(() => runner.reset());
      const image = `${berth.host}/${repository}:v1`;
      const pulledId = (await runner.podman(['pull', '--quiet', '--tls-verify=false', `docker://${image}`]))
        .stdout;
      expect(`sha256:${pulledId.trim()}`).toBe(imageId);
      const [inspected] = parseJson(
        (await runner.podman(['image', 'inspect', image])).stdout,
      ) as PodmanImage[];
      expect(inspected?.Id).toBe(imageId.replace('sha256:', ''));
      expect(inspected?.Digest).toBe(pushedDigest);
      expect(inspected?.RepoDigests).toContain(`${berth.host}/${repository}@${pushedDigest}`);
      expect(inspected?.RootFS.Layers).toEqual(config.rootfs.diff_ids);

      // `podman save` writes the pulled image as a layout: the same bytes Berth served.
      const saved = join(work, 'saved');
      await runner.podman(['save', '--format', 'oci-dir', '--output', saved, image]);
      const [savedRoot] = (await readLayoutIndex(saved)).manifests;
      const savedGraph = await readImageGraphFrom(saved, savedRoot!);
      expect(savedGraph.root.digest).toBe(pushedDigest);
      expect(graphBlob(savedGraph, pushedDigest).equals(manifestBytes)).toBe(true);
      expect(graphBlob(savedGraph, imageId).equals(configBytes)).toBe(true);
      expect(fileDigests(imageFiles(savedGraph))).toEqual(
        fileDigests(
          new Map([
            ['payload.bin', files.get('payload.bin')!],
            ['etc/hello.txt', files.get('hello.txt')!],
          ]),
        ),
      );

      // podman pushes it to another repository; the image there is the same image.
      const other = repoName('podman');
      await runner.podman([
        'push',
        '--tls-verify=false',
        '--digestfile',
        join(work, 'podman-digest'),
        image,
        docker(other, 'v2'),
      ]);
      const podmanDigest = (await readFile(join(work, 'podman-digest'), 'utf8')).trim();
      const republished = await fetchManifest(registry, other, 'v2');
      expect(digestOf(republished)).toBe(podmanDigest);
      const republishedManifest = parseJson(republished) as ImageManifest;
      expect(republishedManifest.config.digest).toBe(imageId);
      expect((await fetchBlob(registry, other, imageId)).equals(configBytes)).toBe(true);
      expect(republishedManifest.layers).toHaveLength(1);
      const republishedLayer = await fetchBlob(registry, other, republishedManifest.layers[0]!.digest);
      expect(digestOf(gunzipSync(republishedLayer))).toBe(config.rootfs.diff_ids[0]);
    });
  });
});
