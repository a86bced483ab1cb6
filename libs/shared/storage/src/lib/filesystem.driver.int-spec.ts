import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDriverSuite } from '../testing/driver-suite';
import { createStorageDriver } from './create-storage-driver';
import { FilesystemDriver } from './filesystem.driver';
import { InvalidPathError, PathNotFoundError } from './storage.error';

/** The driver's area for writes in progress; reported only when something is left in it. */
const TEMP_DIR = '~tmp';

runDriverSuite('FilesystemDriver', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-fs-driver-'));
  return {
    driver: createStorageDriver({ driver: 'filesystem', root }),
    cleanup: () => rm(root, { recursive: true, force: true }),
    leftovers: () => tree(root, ''),
  };
});

describe('FilesystemDriver on its own', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-fs-driver-'));
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('ignores entries of the root that no storage path can name', async () => {
    const sut = createStorageDriver({ driver: 'filesystem', root });
    await mkdir(join(root, 'lost+found'));
    await writeFile(join(root, 'notes~'), 'foreign');
    await sut.putContent('/object', Buffer.from('x'));
    expect(await sut.list('/')).toEqual(['/object']);
    const walked: string[] = [];
    for await (const file of sut.walk('/')) walked.push(file.path);
    expect(walked).toEqual(['/object']);
    await sut.delete('/');
    expect((await readdir(root)).sort()).toEqual(['lost+found', 'notes~', TEMP_DIR]);
  });

  it('writes while deletes elsewhere prune the same parents, without losing a write', async () => {
    const sut = createStorageDriver({ driver: 'filesystem', root });
    // As uploads do: each session writes under a shared parent, and finished ones are deleted,
    // which prunes the parent whenever it runs empty.
    for (let round = 0; round < 60; round++) {
      await Promise.all(
        Array.from({ length: 32 }, async (_, i) => {
          const path = `/uploads/r${round}-${i}/data`;
          await sut.putContent(path, Buffer.from(path));
          await sut.delete(`/uploads/r${round}-${i}`);
        }),
      );
    }
    // Everything was written and deleted again: nothing is left, not even a directory.
    await expect(sut.list('/')).rejects.toBeInstanceOf(PathNotFoundError);
  });

  it('refuses a path that escapes the root even without the validating wrapper', async () => {
    const sut = new FilesystemDriver(join(root, 'inner'));
    await writeFile(join(root, 'outside'), 'secret');
    await expect(sut.getContent('/../outside')).rejects.toBeInstanceOf(InvalidPathError);
    await expect(sut.delete('/../outside')).rejects.toBeInstanceOf(InvalidPathError);
    expect(await readdir(root)).toEqual(['outside']);
  });
});

/**
 * Every file below `dir` as `/relative/path`, and every empty directory as `/relative/path/`
 * (the driver prunes emptied directories), except the temporary area while it is empty.
 */
async function tree(root: string, relative: string): Promise<string[]> {
  const entries = await readdir(join(root, relative), { withFileTypes: true });
  if (entries.length === 0 && relative !== '' && relative !== `/${TEMP_DIR}`) return [`${relative}/`];
  const found: string[] = [];
  for (const entry of entries) {
    const path = `${relative}/${entry.name}`;
    if (entry.isDirectory()) found.push(...(await tree(root, path)));
    else found.push(path);
  }
  return found;
}
