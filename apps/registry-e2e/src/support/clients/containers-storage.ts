import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run, type RunOutput } from './command';

// buildah and podman on a private containers-storage.

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
