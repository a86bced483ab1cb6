import { join } from 'node:path';
import { resolveLayoutTag, type Descriptor } from '../oci-layout';
import { makeTempDir, removeTree, run, writeRandomFiles } from './command';

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
