import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { OciClient } from './oci-client';

// Helpers that drive real registry clients (skopeo, umoci, buildah, podman, docker) from tests:
// every command runs with a timeout and its stderr goes into the error it throws; every directory
// and process they create is owned by the test that asked for it and removed by it.

/** How long one CLI step may take unless the caller says otherwise. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;

/** Options of one command run. */
export interface RunOptions {
  /** Kill the command (and its process group) after this long. */
  readonly timeoutMs?: number;
  /** Variables added to the inherited environment. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/** What a command printed. */
export interface RunOutput {
  /** Standard output, exactly as printed (manifests are compared byte for byte). */
  readonly bytes: Buffer;
  /** Standard output as UTF-8. */
  readonly stdout: string;
  readonly stderr: string;
}

/** A command that failed, timed out or could not start, with what it printed. */
export class CommandError extends Error {
  constructor(
    readonly commandLine: string,
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stdout: string,
    readonly stderr: string,
    reason: string,
  ) {
    super(
      `${commandLine}\n  ${reason}\n  stderr: ${tail(stderr) || '(empty)'}\n  stdout: ${tail(stdout) || '(empty)'}`,
    );
    this.name = 'CommandError';
  }
}

function tail(text: string, max = 4000): string {
  const trimmed = text.trim();
  return trimmed.length > max ? `…${trimmed.slice(-max)}` : trimmed;
}

/**
 * Runs a command without a shell and resolves with its output when it exits 0; otherwise rejects
 * with a {@link CommandError} that carries its exit code and stderr. The command runs in its own
 * process group so that a timeout kills whatever it started too.
 */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunOutput> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const commandLine = [command, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new CommandError(commandLine, null, null, '', '', `could not start: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const bytes = Buffer.concat(out);
      const stdout = bytes.toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0 && !timedOut) {
        resolve({ bytes, stdout, stderr });
        return;
      }
      const reason = timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${code ?? signal ?? '?'}`;
      reject(new CommandError(commandLine, code, signal, stdout, stderr, reason));
    });
  });
}

/** The sha256 digest of bytes, as `sha256:<hex>`. */
export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Makes a fresh directory under the system temp dir. */
export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `berth-e2e-${prefix}-`));
}

/**
 * Removes a directory tree that container tools wrote: unmounts anything still mounted below it,
 * makes read-only directories writable (image layers may contain them), then deletes it.
 */
export async function removeTree(path: string): Promise<void> {
  for (const mountPoint of await mountsUnder(path)) {
    await run('umount', ['-l', mountPoint], { timeoutMs: 10_000 }).catch(() => undefined);
  }
  await run('chmod', ['-R', 'u+w', path], { timeoutMs: 60_000 }).catch(() => undefined);
  await rm(path, { recursive: true, force: true });
}

async function mountsUnder(path: string): Promise<string[]> {
  const mountInfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return mountInfo
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint === path || mountPoint.startsWith(`${path}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Temp directories of one test: `dir()` makes one, `cleanup()` (in `afterEach`) removes them all.
 */
export class Scratch {
  private readonly dirs: string[] = [];
  private readonly cleanups: (() => Promise<unknown>)[] = [];

  /** A fresh directory that `cleanup()` removes. */
  async dir(prefix: string): Promise<string> {
    const path = await makeTempDir(prefix);
    this.dirs.push(path);
    return path;
  }

  /** Registers work to do at cleanup, before the directories go (e.g. `buildah rm --all`). */
  defer(cleanup: () => Promise<unknown>): void {
    this.cleanups.push(cleanup);
  }

  /** Runs the deferred work in reverse order, then removes every directory; never throws. */
  async cleanup(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      await cleanup().catch(() => undefined);
    }
    for (const dir of this.dirs.splice(0)) await removeTree(dir);
  }
}

/** Writes files of random bytes under `root` (paths relative to it) and returns their contents. */
export async function writeRandomFiles(
  root: string,
  sizes: Readonly<Record<string, number>>,
): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const [path, size] of Object.entries(sizes)) {
    const bytes = randomBytes(size);
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), bytes);
    files.set(path, bytes);
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// OCI image layouts: reading, walking and comparing them.

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

// ---------------------------------------------------------------------------------------------
// umoci: building OCI layouts without any daemon.

/** An image that {@link buildUmociImage} made. */
export interface UmociImage {
  readonly tag: string;
  readonly descriptor: Descriptor;
  /** The random files of its layers, by path in the image (no leading `/`). */
  readonly files: ReadonlyMap<string, Buffer>;
}

/** What to put in an image built with umoci. */
export interface UmociImageSpec {
  readonly architecture: string;
  readonly os?: string;
  /** One entry per layer: file paths (relative to the layer's folder) and their sizes in bytes. */
  readonly layers: readonly Readonly<Record<string, number>>[];
}

function umociFlags(): string[] {
  // As root umoci keeps owners as they are; otherwise it must be told it is rootless.
  return process.getuid?.() === 0 ? [] : ['--rootless'];
}

/** Makes an empty OCI image layout. */
export async function createLayout(layout: string): Promise<void> {
  await run('umoci', ['init', '--layout', layout]);
}

/**
 * Builds an image in a layout with umoci: one real layer per spec entry (random files under
 * `/layer-<n>/`), the given platform in its config, then garbage-collects the intermediate blobs
 * so that the layout holds exactly what its tags reach.
 */
export async function buildUmociImage(
  layout: string,
  tag: string,
  spec: UmociImageSpec,
): Promise<UmociImage> {
  const image = `${layout}:${tag}`;
  await run('umoci', ['new', '--image', image]);
  await run('umoci', [
    'config',
    '--image',
    image,
    '--architecture',
    spec.architecture,
    '--os',
    spec.os ?? 'linux',
    '--config.cmd',
    '/layer-0',
  ]);
  const files = new Map<string, Buffer>();
  const sources = await makeTempDir('umoci-layer');
  try {
    for (const [n, sizes] of spec.layers.entries()) {
      const source = join(sources, `layer-${n}`);
      for (const [path, bytes] of await writeRandomFiles(source, sizes))
        files.set(`layer-${n}/${path}`, bytes);
      await run('umoci', ['insert', ...umociFlags(), '--image', image, source, `/layer-${n}`]);
    }
  } finally {
    await removeTree(sources);
  }
  await run('umoci', ['gc', '--layout', layout]);
  return { tag, descriptor: await resolveLayoutTag(layout, tag), files };
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

// ---------------------------------------------------------------------------------------------
// skopeo

/**
 * skopeo against a plain-HTTP registry: every registry side is `tls-verify=false`, and the
 * signature policy is skipped so that the machine's `/etc/containers/policy.json` does not matter.
 */
export const skopeo = {
  /** `skopeo copy <source> <destination>` with extra flags (e.g. `--all`). */
  copy(source: string, destination: string, flags: readonly string[] = []): Promise<RunOutput> {
    return run('skopeo', [
      '--insecure-policy',
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      ...flags,
      source,
      destination,
    ]);
  },

  /** The exact bytes of a manifest as the registry serves it. */
  async inspectRaw(reference: string): Promise<Buffer> {
    return (await run('skopeo', ['inspect', '--raw', '--tls-verify=false', reference])).bytes;
  },

  /** The tags of a repository. */
  async listTags(repository: string): Promise<string[]> {
    const output = await run('skopeo', ['list-tags', '--tls-verify=false', repository]);
    return [...((parseJson(output.stdout) as { Tags: string[] | null }).Tags ?? [])].sort();
  },

  /** Deletes the manifest a reference resolves to. */
  delete(reference: string): Promise<RunOutput> {
    return run('skopeo', ['delete', '--tls-verify=false', reference]);
  },
};

// ---------------------------------------------------------------------------------------------
// buildah and podman on a private containers-storage

/**
 * A containers-storage of its own (vfs driver, root and runroot in a temp dir) that buildah and
 * podman share, so a test never touches the machine's image store.
 */
export class ContainerStorage {
  private constructor(readonly dir: string) {}

  /** Makes the storage directories under `dir` (which the caller removes). */
  static async create(dir: string): Promise<ContainerStorage> {
    for (const sub of ['root', 'run', 'tmp']) await mkdir(join(dir, sub), { recursive: true });
    return new ContainerStorage(dir);
  }

  private get storageFlags(): string[] {
    return ['--storage-driver', 'vfs', '--root', join(this.dir, 'root'), '--runroot', join(this.dir, 'run')];
  }

  private get env(): Record<string, string> {
    // Big temporary files (layer diffs, pulled blobs) go to TMPDIR, by default /var/tmp.
    return { TMPDIR: join(this.dir, 'tmp') };
  }

  /** Runs `buildah` on this storage. */
  buildah(args: readonly string[], timeoutMs?: number): Promise<RunOutput> {
    return run('buildah', [...this.storageFlags, ...args], { env: this.env, timeoutMs });
  }

  /** Runs `podman` on this storage, with no events, cgroup manager or runtime dir of the host. */
  podman(args: readonly string[], timeoutMs?: number): Promise<RunOutput> {
    return run(
      'podman',
      [
        ...this.storageFlags,
        '--tmpdir',
        join(this.dir, 'tmp', 'libpod'),
        '--events-backend',
        'none',
        '--cgroup-manager',
        'cgroupfs',
        ...args,
      ],
      { env: this.env, timeoutMs },
    );
  }

  /** Removes buildah's working containers and podman's images, so nothing keeps state here. */
  async reset(): Promise<void> {
    await this.buildah(['rm', '--all']).catch(() => undefined);
    await this.podman(['rmi', '--all', '--force']).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// A Docker engine of our own

/** A dockerd that a test file started, and the client pointed at it. */
export interface DockerEngine {
  /** Environment for the `docker` CLI (DOCKER_HOST, DOCKER_CONFIG, no BuildKit). */
  readonly env: Readonly<Record<string, string>>;
  /** Runs the `docker` CLI against this engine. */
  docker(args: readonly string[], timeoutMs?: number): Promise<RunOutput>;
  /** Stops the engine (and the containerd it started) and removes all its directories. */
  stop(): Promise<void>;
}

const DOCKERD_START_TIMEOUT_MS = 60_000;
const RUN_DIR = '/run/docker';

/**
 * Starts a private dockerd (vfs storage, no bridge, no iptables) with its data root, exec root,
 * pid file, config, trust key and socket all in one temp dir. Its registry mirror and insecure
 * settings are the defaults: `127.0.0.0/8` is an insecure registry range, so a loopback Berth is
 * reached over plain HTTP. The caller's `process.env` is left alone (other helpers look for
 * DOCKER_HOST there).
 */
export async function startDockerEngine(): Promise<DockerEngine> {
  // dockerd 20.10 writes a trust key to /etc/docker/key.json unless told where; newer ones have no key.
  const version = (await run('dockerd', ['--version'])).stdout;
  const major = Number(/version (\d+)\./i.exec(version)?.[1] ?? '0');
  const dir = await makeTempDir('dockerd');
  const socket = join(dir, 'docker.sock');
  const env = {
    DOCKER_HOST: `unix://${socket}`,
    DOCKER_CONFIG: join(dir, 'client'),
    DOCKER_BUILDKIT: '0',
  };
  for (const sub of ['data', 'exec', 'client']) await mkdir(join(dir, sub));
  // dockerd always makes /run/docker/plugins; remove it afterwards if it was not there before.
  const hadRunDir = await stat(RUN_DIR).then(
    () => true,
    () => false,
  );
  await writeFile(
    join(dir, 'daemon.json'),
    JSON.stringify(major > 0 && major < 23 ? { 'deprecated-key-path': join(dir, 'key.json') } : {}),
  );
  const log = createWriteStream(join(dir, 'dockerd.log'));
  const daemon = spawn(
    'dockerd',
    [
      '--config-file',
      join(dir, 'daemon.json'),
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--storage-driver=vfs',
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'docker.pid'),
      '-H',
      `unix://${socket}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  daemon.stdout.pipe(log);
  daemon.stderr.pipe(log);
  const exited = new Promise<void>((resolve) => {
    daemon.once('exit', () => {
      resolve();
    });
  });

  const stop = async (): Promise<void> => {
    // dockerd started a containerd of its own; note it, in case dockerd dies without stopping it.
    const containerdPid = Number(
      await readFile(join(dir, 'exec', 'containerd', 'containerd.pid'), 'utf8').catch(() => ''),
    );
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM');
      const timer = setTimeout(() => daemon.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    if (containerdPid > 0 && (await isOurProcess(containerdPid, dir))) {
      try {
        process.kill(containerdPid, 'SIGKILL');
      } catch {
        // It stopped meanwhile.
      }
    }
    log.end();
    await removeTree(dir);
    if (!hadRunDir) {
      // rmdir only removes them while empty, i.e. when no other engine uses them meanwhile.
      await rmdir(join(RUN_DIR, 'plugins')).catch(() => undefined);
      await rmdir(RUN_DIR).catch(() => undefined);
    }
  };

  try {
    await waitForDockerd(socket, () => daemon.exitCode !== null);
  } catch (error) {
    const output = await readFile(join(dir, 'dockerd.log'), 'utf8').catch(() => '');
    await stop();
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${tail(output)}`);
  }
  return {
    env,
    docker: (args, timeoutMs) => run('docker', args, { env, timeoutMs }),
    stop,
  };
}

async function isOurProcess(pid: number, dir: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes(dir);
}

async function waitForDockerd(socket: string, hasExited: () => boolean): Promise<void> {
  const deadline = Date.now() + DOCKERD_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (hasExited()) throw new Error('dockerd exited while starting');
    if (await pingDockerd(socket)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`dockerd did not answer on ${socket} within ${DOCKERD_START_TIMEOUT_MS} ms`);
}

function pingDockerd(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => {
      resolve(false);
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
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
