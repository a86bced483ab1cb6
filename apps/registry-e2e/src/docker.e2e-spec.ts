import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startBerth, type RunningBerth } from '@berth/testing';
import { Scratch, writeRandomFiles } from './support/clients/command';
import { startDockerEngine, type DockerEngine } from './support/clients/docker';
import {
  MEDIA_TYPES,
  digestOf,
  fileDigests,
  filesOfLayers,
  parseJson,
  readLayerFiles,
  type ImageConfig,
  type ImageManifest,
} from './support/oci-layout';
import { fetchBlob, fetchManifest } from './support/read-back';
import { provisionRobot } from './support/auth';
import { OciClient, repoName } from './support/oci-client';
import { SHAPES } from './support/shapes';

/** What `docker image inspect` says about an image, as far as these tests read it. */
interface InspectedImage {
  readonly Id: string;
  readonly RepoTags: readonly string[];
  readonly RepoDigests: readonly string[];
  readonly RootFS: { readonly Layers: readonly string[] };
}

/** One entry of the `manifest.json` in a `docker save` tarball. */
interface SavedImage {
  readonly Config: string;
  readonly RepoTags: readonly string[] | null;
  readonly Layers: readonly string[];
}

/** The file of a tarball at `path` (throws when it has none). */
function fileOf(files: ReadonlyMap<string, Buffer>, path: string): Buffer {
  const bytes = files.get(path);
  if (bytes === undefined) throw new Error(`no ${path} in [${[...files.keys()].join(', ')}]`);
  return bytes;
}

// The Docker engine (Debian docker.io, a private dockerd started for this file) against each
// shape of Berth. Berth listens on 127.0.0.1, which dockerd treats as an insecure (plain HTTP)
// registry by default, so no daemon configuration is needed.
let engine: DockerEngine;
let started: DockerEngine | undefined;

beforeAll(async () => {
  started = await startDockerEngine();
  engine = started;
});

afterAll(async () => {
  await started?.stop();
});

describe.each(SHAPES)('docker engine: $label', (shape) => {
  let berth: RunningBerth;
  let registry: OciClient;
  const scratch = new Scratch();

  beforeAll(async () => {
    berth = await startBerth(shape);
    const robot = await provisionRobot(berth);
    registry = new OciClient(berth.url, robot);
    await expect(
      engine.docker(['login', '--username', robot.username, '--password', 'wrong-secret', berth.host]),
    ).rejects.toThrow(/unauthorized|401/i);
    await engine.docker(['login', '--username', robot.username, '--password', robot.password, berth.host]);
  });

  afterEach(async () => {
    await scratch.cleanup();
  });

  afterAll(async () => {
    await scratch.cleanup();
    await berth.stop();
  });

  const inspect = async (image: string): Promise<InspectedImage> => {
    const [found] = parseJson((await engine.docker(['image', 'inspect', image])).stdout) as InspectedImage[];
    if (found === undefined) throw new Error(`docker image inspect ${image} returned nothing`);
    return found;
  };

  it('builds and pushes an image, pulls it back after rmi, and saves the same id and bytes', async () => {
    const work = await scratch.dir('docker');
    const context = join(work, 'context');
    const files = await writeRandomFiles(context, { 'payload.bin': 300_000, 'data/notes.txt': 200 });
    await writeFile(
      join(context, 'Dockerfile'),
      'FROM scratch\nCOPY payload.bin /payload.bin\nCOPY data/ /data/\nCMD ["/payload.bin"]\n',
    );
    const local = `berth-e2e-local:${randomBytes(4).toString('hex')}`;
    const repository = repoName('docker');
    const remote = `${berth.host}/${repository}:v1`;
    scratch.defer(() => engine.docker(['rmi', '--force', local, remote]));

    await engine.docker(['build', '--iidfile', join(work, 'iid'), '--tag', local, context]);
    const imageId = (await readFile(join(work, 'iid'), 'utf8')).trim();
    const built = await inspect(local);
    expect(built.Id).toBe(imageId);
    expect(built.RootFS.Layers).toHaveLength(2);

    await engine.docker(['tag', local, remote]);
    const pushed = await engine.docker(['push', remote]);
    const pushedDigest = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(pushed.stdout)?.[1];
    expect(pushedDigest).toBeDefined();

    // What Berth holds: docker's schema 2 manifest, its config (whose digest is the image id),
    // and the layers, whose uncompressed bytes hash to the config's diff ids.
    const manifestBytes = await fetchManifest(registry, repository, 'v1');
    expect(digestOf(manifestBytes)).toBe(pushedDigest);
    const manifest = parseJson(manifestBytes) as ImageManifest;
    expect(manifest.mediaType).toBe(MEDIA_TYPES.dockerManifest);
    expect(manifest.config.digest).toBe(imageId);
    const configBytes = await fetchBlob(registry, repository, imageId);
    expect(digestOf(configBytes)).toBe(imageId);
    const config = parseJson(configBytes) as ImageConfig;
    expect(config.rootfs.diff_ids).toEqual(built.RootFS.Layers);
    const layers = await Promise.all(manifest.layers.map((l) => fetchBlob(registry, repository, l.digest)));
    expect(layers.map((layer) => digestOf(gunzipSync(layer)))).toEqual(config.rootfs.diff_ids);

    // Gone from the engine, then pulled back: the same image.
    await engine.docker(['rmi', local, remote]);
    await expect(engine.docker(['image', 'inspect', imageId])).rejects.toThrow(/No such image/i);
    const pulled = await engine.docker(['pull', remote]);
    expect(pulled.stdout).toContain(`Digest: ${pushedDigest ?? ''}`);
    const back = await inspect(remote);
    expect(back.Id).toBe(imageId);
    expect(back.RepoDigests).toContain(`${berth.host}/${repository}@${pushedDigest ?? ''}`);
    expect(back.RootFS.Layers).toEqual(config.rootfs.diff_ids);

    // `docker save` holds the config Berth served and the layers with the built files.
    const tarball = join(work, 'saved.tar');
    await engine.docker(['save', '--output', tarball, remote]);
    const saved = readLayerFiles(await readFile(tarball));
    const [entry] = parseJson(fileOf(saved, 'manifest.json')) as SavedImage[];
    expect(entry?.RepoTags).toEqual([remote]);
    expect(fileOf(saved, entry?.Config ?? '').equals(configBytes)).toBe(true);
    const savedLayers = (entry?.Layers ?? []).map((path) => fileOf(saved, path));
    expect(savedLayers.map((layer) => digestOf(layer))).toEqual(config.rootfs.diff_ids);
    expect(fileDigests(filesOfLayers(savedLayers))).toEqual(fileDigests(files));
  });

  it('pushes a pulled image to another repository by mounting its layers', async () => {
    const work = await scratch.dir('docker-mount');
    const context = join(work, 'context');
    await writeRandomFiles(context, { 'a.bin': 80_000, 'b.bin': 40_000 });
    await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY a.bin /a.bin\nCOPY b.bin /b.bin\n');
    const first = `${berth.host}/${repoName('docker-a')}:v1`;
    const secondRepository = repoName('docker-b');
    const second = `${berth.host}/${secondRepository}:v2`;
    scratch.defer(() => engine.docker(['rmi', '--force', first, second]));

    await engine.docker(['build', '--iidfile', join(work, 'iid'), '--tag', first, context]);
    const imageId = (await readFile(join(work, 'iid'), 'utf8')).trim();
    const pushedDigest = /digest: (sha256:[0-9a-f]{64})/.exec(
      (await engine.docker(['push', first])).stdout,
    )?.[1];
    await engine.docker(['rmi', first]);
    await engine.docker(['pull', first]);

    // dockerd remembers where the layers came from and asks Berth to mount them into the target.
    await engine.docker(['tag', first, second]);
    const pushed = await engine.docker(['push', second]);
    const firstRepository = first.slice(berth.host.length + 1, -':v1'.length);
    expect(pushed.stdout.match(new RegExp(`Mounted from ${firstRepository}`, 'g'))).toHaveLength(2);
    const manifestBytes = await fetchManifest(registry, secondRepository, 'v2');
    expect(digestOf(manifestBytes)).toBe(pushedDigest);
    const manifest = parseJson(manifestBytes) as ImageManifest;
    expect(manifest.config.digest).toBe(imageId);
    for (const layer of manifest.layers) {
      expect(digestOf(await fetchBlob(registry, secondRepository, layer.digest))).toBe(layer.digest);
    }
  });
});
