import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FileInfo, StorageDriver } from '../lib/storage.driver';
import { InvalidOffsetError, InvalidPathError, PathNotFoundError } from '../lib/storage.error';

/** What a driver factory hands to {@link runDriverSuite} for one test. */
export interface DriverSuiteContext {
  /**
   * The driver under test, built the way services get it (through `createStorageDriver`, so that
   * path validation is part of what is tested), over an empty backend of its own.
   */
  readonly driver: StorageDriver;
  /** Releases what the factory made (temporary directories, buckets). Runs after every test. */
  cleanup(): Promise<void>;
  /**
   * Everything the backend holds, looked at behind the driver's back: each object as its storage
   * path (`/a/b`), and anything else the driver left (temporary files, empty directories, keys
   * outside its prefix) as some other string that names it. After a test this must equal what
   * `walk('/')` yields, and after `delete('/')` it must be empty.
   */
  leftovers(): Promise<string[]>;
}

/** Builds a fresh, empty driver for one test. */
export type DriverSuiteFactory = () => Promise<DriverSuiteContext>;

/** The chunk size of generated sources: odd, so that chunks never line up with a driver's parts. */
const CHUNK = 65_537;

const MiB = 1024 * 1024;

/** Large enough to take S3's multipart path with several parts. */
const LARGE = 21 * MiB + 12_345;

/**
 * The conformance suite every {@link StorageDriver} must pass: the contract of the interface,
 * atomic writes and moves, the error types, path validation, and no leftovers. Defines a Jest
 * `describe(name, …)`; call it from an `*.int-spec.ts` with a factory that gives each test a fresh,
 * empty backend. After each test the suite checks that the backend holds exactly the objects the
 * driver reports (so a stray temporary file or partial upload fails the test), then deletes
 * everything through the driver and checks that nothing at all remains.
 */
export function runDriverSuite(name: string, factory: DriverSuiteFactory): void {
  describe(name, () => {
    let context: DriverSuiteContext;
    let sut: StorageDriver;

    beforeEach(async () => {
      context = await factory();
      sut = context.driver;
    });

    afterEach(async () => {
      try {
        const objects = (await walkAll(sut, '/')).map((file) => file.path).sort();
        expect((await context.leftovers()).sort()).toEqual(objects);
        await sut.delete('/');
        expect(await context.leftovers()).toEqual([]);
      } finally {
        await context.cleanup();
      }
    });

    describe('putContent and getContent', () => {
      it('round-trips every byte value', async () => {
        const content = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
        await sut.putContent('/small/all-bytes', content);
        expect(await sut.getContent('/small/all-bytes')).toEqual(content);
      });

      it('stores an empty object', async () => {
        await sut.putContent('/empty', new Uint8Array(0));
        expect(await sut.getContent('/empty')).toEqual(Buffer.alloc(0));
        expect((await sut.stat('/empty')).size).toBe(0);
      });

      it('writes exactly the bytes of a view into a larger buffer', async () => {
        const backing = Buffer.from('0123456789');
        await sut.putContent('/view', new Uint8Array(backing.buffer, backing.byteOffset + 3, 4));
        expect((await sut.getContent('/view')).toString()).toBe('3456');
      });

      it('replaces an existing object', async () => {
        await sut.putContent('/replaced', Buffer.from('first, and longer'));
        await sut.putContent('/replaced', Buffer.from('second'));
        expect((await sut.getContent('/replaced')).toString()).toBe('second');
      });

      it('throws PathNotFoundError for a missing object or a directory', async () => {
        await sut.putContent('/dir/file', Buffer.from('x'));
        await expect(sut.getContent('/missing')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(sut.getContent('/dir/file/below')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(sut.getContent('/dir')).rejects.toBeInstanceOf(PathNotFoundError);
      });
    });

    describe('write', () => {
      it('streams a small source of several chunks and resolves with its length', async () => {
        const written = await sut.write(
          '/w/small',
          Readable.from([Buffer.from('he'), Buffer.from('llo'), 'world']),
        );
        expect(written).toBe(10);
        expect((await sut.getContent('/w/small')).toString()).toBe('helloworld');
      });

      it('streams an empty source', async () => {
        expect(await sut.write('/w/empty', Readable.from([]))).toBe(0);
        expect((await sut.stat('/w/empty')).size).toBe(0);
        expect(await sut.getContent('/w/empty')).toEqual(Buffer.alloc(0));
      });

      it('streams a large source generated on the fly, byte for byte', async () => {
        expect(await sut.write('/w/large', patternSource(LARGE))).toBe(LARGE);
        expect((await sut.stat('/w/large')).size).toBe(LARGE);
        expect(await digestOf(await sut.reader('/w/large'))).toEqual({
          bytes: LARGE,
          sha256: patternDigest(LARGE),
        });
        // A range across the 8 MiB boundaries, where a multipart upload joins its parts.
        const offset = 8 * MiB - 1_000;
        const range = await readAll(await sut.reader('/w/large', { offset, length: 8 * MiB + 2_000 }));
        expect(range.equals(pattern(offset, 8 * MiB + 2_000))).toBe(true);
      });

      it('accepts a size hint', async () => {
        expect(await sut.write('/w/hinted', patternSource(9 * MiB), { size: 9 * MiB })).toBe(9 * MiB);
        expect(await digestOf(await sut.reader('/w/hinted'))).toEqual({
          bytes: 9 * MiB,
          sha256: patternDigest(9 * MiB),
        });
      });

      it('creates every directory on the way', async () => {
        await sut.write('/w/a/b/c/d/e/f', Readable.from([Buffer.from('deep')]));
        expect((await sut.getContent('/w/a/b/c/d/e/f')).toString()).toBe('deep');
        expect(await sut.list('/w/a/b/c')).toEqual(['/w/a/b/c/d']);
      });

      it('replaces an existing object', async () => {
        await sut.write('/w/replaced', patternSource(100_000));
        await sut.write('/w/replaced', Readable.from([Buffer.from('new')]));
        expect((await sut.getContent('/w/replaced')).toString()).toBe('new');
      });

      it.each([
        ['after a few bytes', 10],
        ['after several mebibytes', 12 * MiB],
      ])('rejects with the source error %s and keeps the previous object', async (_, failAt) => {
        await sut.putContent('/w/kept', Buffer.from('previous'));
        const failure = new Error('source broke');
        await expect(sut.write('/w/kept', patternSource(LARGE, { failAt, failure }))).rejects.toBe(failure);
        expect((await sut.getContent('/w/kept')).toString()).toBe('previous');
      });

      it('leaves no object when a source errors on a new path', async () => {
        const failure = new Error('source broke');
        await expect(
          sut.write('/w/new/object', patternSource(LARGE, { failAt: 9 * MiB, failure })),
        ).rejects.toBe(failure);
        await expect(sut.stat('/w/new/object')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(sut.list('/w')).rejects.toBeInstanceOf(PathNotFoundError);
      });

      it('rejects when the source is destroyed without an error', async () => {
        await sut.putContent('/w/destroyed', Buffer.from('previous'));
        const source = new PassThrough();
        source.write(pattern(0, 1_000));
        setImmediate(() => source.destroy());
        await expect(sut.write('/w/destroyed', source)).rejects.toThrow();
        expect((await sut.getContent('/w/destroyed')).toString()).toBe('previous');
      });

      it('keeps the new object invisible, and the old one whole, until the write resolves', async () => {
        await sut.putContent('/w/atomic', Buffer.from('old'));
        const source = new PassThrough();
        const writing = sut.write('/w/atomic', source);
        try {
          for (let offset = 0; offset < 10 * MiB; offset += MiB) source.write(pattern(offset, MiB));
          await drained(source);
          expect((await sut.getContent('/w/atomic')).toString()).toBe('old');
          expect((await sut.stat('/w/atomic')).size).toBe(3);
          expect(await sut.list('/w')).toEqual(['/w/atomic']);
          source.end();
          expect(await writing).toBe(10 * MiB);
        } finally {
          source.destroy();
          await writing.catch(() => undefined);
        }
        expect((await sut.stat('/w/atomic')).size).toBe(10 * MiB);
      });

      it('leaves one whole version when writers race on a path', async () => {
        const size = 256 * 1024;
        const writers = [0x61, 0x62, 0x63, 0x64].map((fill) =>
          sut.write('/w/raced', slowFilledSource(fill, size)),
        );
        expect(await Promise.all(writers)).toEqual([size, size, size, size]);
        const content = await sut.getContent('/w/raced');
        expect(content.length).toBe(size);
        expect(content.equals(Buffer.alloc(size, content[0]))).toBe(true);
      });

      it('writes many objects into one directory at once', async () => {
        const names = Array.from({ length: 20 }, (_, i) => `/w/many/${String(i).padStart(2, '0')}`);
        await Promise.all(names.map((path) => sut.write(path, Readable.from([Buffer.from(path)]))));
        expect(await sut.list('/w/many')).toEqual(names);
      });

      it('lands a write into a directory that a concurrent delete empties', async () => {
        for (let round = 0; round < 20; round++) {
          await sut.putContent('/w/race/dir/old', Buffer.from('old'));
          await Promise.all([
            sut.delete('/w/race/dir/old'),
            sut.putContent('/w/race/dir/new', Buffer.from('new')),
          ]);
          expect((await sut.getContent('/w/race/dir/new')).toString()).toBe('new');
          await sut.delete('/w/race/dir/new');
        }
      });
    });

    describe('reader', () => {
      const size = 100_000;
      beforeEach(async () => {
        await sut.putContent('/r/object', pattern(0, size));
      });

      it('reads the whole object', async () => {
        expect((await readAll(await sut.reader('/r/object'))).equals(pattern(0, size))).toBe(true);
      });

      it('reads from an offset to the end', async () => {
        expect(
          (await readAll(await sut.reader('/r/object', { offset: 70_000 }))).equals(pattern(70_000, 30_000)),
        ).toBe(true);
      });

      it('reads a length from an offset', async () => {
        const read = await readAll(await sut.reader('/r/object', { offset: 12_345, length: 1_000 }));
        expect(read.equals(pattern(12_345, 1_000))).toBe(true);
      });

      it('stops at the end when the length reaches past it', async () => {
        const read = await readAll(await sut.reader('/r/object', { offset: size - 10, length: 1_000 }));
        expect(read.equals(pattern(size - 10, 10))).toBe(true);
      });

      it('gives an empty stream for a length of 0', async () => {
        expect(await readAll(await sut.reader('/r/object', { offset: 5, length: 0 }))).toEqual(
          Buffer.alloc(0),
        );
      });

      it('gives an empty stream at an offset equal to the size', async () => {
        expect(await readAll(await sut.reader('/r/object', { offset: size }))).toEqual(Buffer.alloc(0));
        await sut.putContent('/r/empty', new Uint8Array(0));
        expect(await readAll(await sut.reader('/r/empty'))).toEqual(Buffer.alloc(0));
      });

      it('throws InvalidOffsetError past the end', async () => {
        const read = sut.reader('/r/object', { offset: size + 1 });
        await expect(read).rejects.toBeInstanceOf(InvalidOffsetError);
        await expect(read).rejects.toMatchObject({ offset: size + 1, path: '/r/object' });
        await expect(sut.reader('/r/object', { offset: -1 })).rejects.toBeInstanceOf(InvalidOffsetError);
      });

      it('throws PathNotFoundError for a missing object or a directory', async () => {
        await expect(sut.reader('/r/missing')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(sut.reader('/r')).rejects.toBeInstanceOf(PathNotFoundError);
      });

      it('does not read ahead of a slow consumer', async () => {
        await sut.write('/r/big', patternSource(4 * MiB));
        const stream = await sut.reader('/r/big');
        try {
          await once(stream, 'readable');
          expect(stream.read()).not.toBeNull();
          await sleep(200);
          expect(stream.readableLength).toBeLessThanOrEqual(MiB);
          expect(stream.readableEnded).toBe(false);
        } finally {
          stream.destroy();
        }
      });

      it('lets a reader be abandoned and the object deleted', async () => {
        const stream = await sut.reader('/r/object');
        stream.destroy();
        await sut.delete('/r/object');
        await expect(sut.stat('/r/object')).rejects.toBeInstanceOf(PathNotFoundError);
      });
    });

    describe('send', () => {
      const size = 3 * 1024 * 1024 + 17;
      beforeEach(async () => {
        await sut.write('/s/object', patternSource(size));
      });

      it('writes the whole object into the destination and ends it, calling onStart once first', async () => {
        const events: string[] = [];
        const destination = new SocketLike(() => events.push('data'));
        await sut.send('/s/object', destination, { onStart: () => events.push('start') });
        expect(await digestOf(Readable.from([destination.bytes()]))).toEqual({
          bytes: size,
          sha256: patternDigest(size),
        });
        expect(events.slice(0, 2)).toEqual(['start', 'data']);
        expect(destination.ended).toBe(true);
      });

      it('writes a range', async () => {
        const destination = new SocketLike();
        await sut.send('/s/object', destination, { offset: 1_048_570, length: 20 });
        expect(destination.bytes().equals(pattern(1_048_570, 20))).toBe(true);
      });

      it('ends the destination for an empty range', async () => {
        const destination = new SocketLike();
        await sut.send('/s/object', destination, { offset: size });
        expect(destination.bytes()).toEqual(Buffer.alloc(0));
        expect(destination.ended).toBe(true);
      });

      it('throws before onStart for a missing object or an offset past the end', async () => {
        const onStart = jest.fn();
        await expect(sut.send('/s/missing', new PassThrough(), { onStart })).rejects.toBeInstanceOf(
          PathNotFoundError,
        );
        await expect(
          sut.send('/s/object', new PassThrough(), { offset: size + 1, onStart }),
        ).rejects.toBeInstanceOf(InvalidOffsetError);
        expect(onStart).not.toHaveBeenCalled();
      });

      it('rejects when the destination fails midway', async () => {
        const destination = new SocketLike(undefined, 100_000);
        destination.on('error', () => undefined);
        await expect(sut.send('/s/object', destination)).rejects.toThrow();
      });
    });

    describe('stat', () => {
      it('describes an object', async () => {
        const before = Date.now();
        await sut.putContent('/s/object', pattern(0, 1_234));
        const info = await sut.stat('/s/object');
        expect(info.path).toBe('/s/object');
        expect(info.size).toBe(1_234);
        // Second resolution on S3, and clocks that may differ slightly.
        expect(info.modifiedAt.getTime()).toBeGreaterThan(before - 5_000);
        expect(info.modifiedAt.getTime()).toBeLessThan(Date.now() + 5_000);
      });

      it('throws PathNotFoundError for a missing object or a directory', async () => {
        await sut.putContent('/s/dir/object', Buffer.from('x'));
        await expect(sut.stat('/s/missing')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(sut.stat('/s/dir')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(sut.stat('/s/dir/object/below')).rejects.toBeInstanceOf(PathNotFoundError);
      });
    });

    describe('move', () => {
      it('moves an object and removes the source with its emptied directories', async () => {
        await sut.putContent('/m/from/dir/object', Buffer.from('moved'));
        await sut.move('/m/from/dir/object', '/m/to/new/place');
        expect((await sut.getContent('/m/to/new/place')).toString()).toBe('moved');
        await expect(sut.stat('/m/from/dir/object')).rejects.toBeInstanceOf(PathNotFoundError);
        expect(await sut.list('/m')).toEqual(['/m/to']);
      });

      it('moves a large object whole', async () => {
        await sut.write('/m/large', patternSource(9 * MiB + 1));
        await sut.move('/m/large', '/m/moved');
        expect(await digestOf(await sut.reader('/m/moved'))).toEqual({
          bytes: 9 * MiB + 1,
          sha256: patternDigest(9 * MiB + 1),
        });
      });

      it('replaces the destination', async () => {
        await sut.putContent('/m/source', Buffer.from('new'));
        await sut.putContent('/m/destination', Buffer.from('old and longer'));
        await sut.move('/m/source', '/m/destination');
        expect((await sut.getContent('/m/destination')).toString()).toBe('new');
        expect(await sut.list('/m')).toEqual(['/m/destination']);
      });

      it('throws PathNotFoundError for a missing source and leaves the destination', async () => {
        await sut.putContent('/m/destination', Buffer.from('kept'));
        await sut.putContent('/m/dir/object', Buffer.from('x'));
        await expect(sut.move('/m/missing', '/m/destination')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(sut.move('/m/dir', '/m/destination')).rejects.toBeInstanceOf(PathNotFoundError);
        expect((await sut.getContent('/m/destination')).toString()).toBe('kept');
      });

      it('keeps an object moved onto itself', async () => {
        await sut.putContent('/m/self', Buffer.from('same'));
        await sut.move('/m/self', '/m/self');
        expect((await sut.getContent('/m/self')).toString()).toBe('same');
        await expect(sut.move('/m/absent', '/m/absent')).rejects.toBeInstanceOf(PathNotFoundError);
      });
    });

    describe('delete', () => {
      it('deletes an object and its emptied directories', async () => {
        await sut.putContent('/d/only/object', Buffer.from('x'));
        await sut.putContent('/d/other', Buffer.from('y'));
        await sut.delete('/d/only/object');
        await expect(sut.stat('/d/only/object')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(sut.list('/d/only')).rejects.toBeInstanceOf(PathNotFoundError);
        expect(await sut.list('/d')).toEqual(['/d/other']);
      });

      it('deletes a directory recursively, and nothing that merely shares its name as a prefix', async () => {
        for (const path of [
          '/d/a/x',
          '/d/a/sub/y',
          '/d/a/sub/deeper/z',
          '/d/ab',
          '/d/a.b',
          '/d/a-b/x',
          '/d/b/a',
        ]) {
          await sut.putContent(path, Buffer.from(path));
        }
        await sut.delete('/d/a');
        expect((await walkAll(sut, '/')).map((file) => file.path).sort()).toEqual([
          '/d/a-b/x',
          '/d/a.b',
          '/d/ab',
          '/d/b/a',
        ]);
      });

      it('deletes an object, and nothing that merely shares its name as a prefix', async () => {
        for (const path of ['/d/object', '/d/object.json', '/d/objects/x'])
          await sut.putContent(path, Buffer.from(path));
        await sut.delete('/d/object');
        expect(await sut.list('/d')).toEqual(['/d/object.json', '/d/objects']);
      });

      it('accepts a missing path', async () => {
        await sut.delete('/d/missing');
        await sut.delete('/d/missing/deeper');
        await sut.putContent('/d/file', Buffer.from('x'));
        await sut.delete('/d/file/below');
        expect((await sut.getContent('/d/file')).toString()).toBe('x');
      });

      it('deletes everything at the root', async () => {
        await sut.putContent('/top', Buffer.from('x'));
        await sut.putContent('/dir/below/object', Buffer.from('y'));
        await sut.delete('/');
        await expect(sut.list('/')).rejects.toBeInstanceOf(PathNotFoundError);
        expect(await walkAll(sut, '/')).toEqual([]);
      });
    });

    describe('list', () => {
      it('lists the direct children, files and directories, sorted', async () => {
        for (const path of ['/l/b', '/l/a/x', '/l/c/y/z', '/l/a.txt', '/l/B', '/l/a/w']) {
          await sut.putContent(path, Buffer.from(path));
        }
        expect(await sut.list('/l')).toEqual(['/l/B', '/l/a', '/l/a.txt', '/l/b', '/l/c']);
        expect(await sut.list('/l/c')).toEqual(['/l/c/y']);
        expect(await sut.list('/')).toEqual(['/l']);
      });

      it('does not mistake a name prefix for a directory', async () => {
        await sut.putContent('/l/a/x', Buffer.from('1'));
        await sut.putContent('/l/ab/y', Buffer.from('2'));
        expect(await sut.list('/l/a')).toEqual(['/l/a/x']);
      });

      it('throws PathNotFoundError when nothing is below the path', async () => {
        await expect(sut.list('/')).rejects.toBeInstanceOf(PathNotFoundError);
        await sut.putContent('/l/file', Buffer.from('x'));
        await expect(sut.list('/l/missing')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(sut.list('/l/file')).rejects.toBeInstanceOf(PathNotFoundError);
        await sut.delete('/l/file');
        await expect(sut.list('/l')).rejects.toBeInstanceOf(PathNotFoundError);
      });
    });

    describe('walk', () => {
      it('yields every object below a path with its size', async () => {
        const paths = ['/k/a', '/k/b/c', '/k/b/d/e', '/k/b/d/f', '/kx/g', '/k/.dot/...'];
        for (const [i, path] of paths.entries()) await sut.putContent(path, pattern(0, i * 10));
        const all = await walkAll(sut, '/');
        expect(all.map(({ path, size }) => ({ path, size })).sort(byPath)).toEqual(
          paths.map((path, i) => ({ path, size: i * 10 })).sort(byPath),
        );
        // Not `instanceof Date`: under Jest, dates made by Node's own modules come from another realm.
        expect(all.every((file) => Number.isFinite(file.modifiedAt.getTime()))).toBe(true);
        expect((await walkAll(sut, '/k/b')).map((file) => file.path).sort()).toEqual([
          '/k/b/c',
          '/k/b/d/e',
          '/k/b/d/f',
        ]);
      });

      it('yields nothing for a missing path or an object', async () => {
        expect(await walkAll(sut, '/')).toEqual([]);
        await sut.putContent('/k/object', Buffer.from('x'));
        expect(await walkAll(sut, '/k/missing')).toEqual([]);
        expect(await walkAll(sut, '/k/object')).toEqual([]);
      });
    });

    describe('redirectUrl', () => {
      it('gives null or a URL that serves the object', async () => {
        const content = pattern(0, 5_000);
        await sut.putContent('/u/object', content);
        const get = await sut.redirectUrl('/u/object', { method: 'GET', expiresInSeconds: 60 });
        const head = await sut.redirectUrl('/u/object', { method: 'HEAD', expiresInSeconds: 60 });
        expect(head === null).toBe(get === null);
        if (get === null || head === null) return;
        const got = await fetch(get);
        expect(got.status).toBe(200);
        expect(Buffer.from(await got.arrayBuffer()).equals(content)).toBe(true);
        const headed = await fetch(head, { method: 'HEAD' });
        expect(headed.status).toBe(200);
        expect(headed.headers.get('content-length')).toBe('5000');
      });
    });

    describe('paths', () => {
      const invalid = [
        '',
        'relative',
        'relative/path',
        '/trailing/',
        '//',
        '/double//slash',
        '/.',
        '/..',
        '/a/../b',
        '/a/./b',
        '/a b',
        '/tab\there',
        '/new\nline',
        '/star*',
        '/colon:',
        '/back\\slash',
        '/percent%2F',
        '/question?',
        '/tilde~',
        '/é',
        '/nul\0',
        `/${'x'.repeat(1_100)}`,
      ];

      it.each(invalid.map((path) => [JSON.stringify(path).slice(0, 40), path]))(
        'rejects %s everywhere with InvalidPathError',
        async (_, path) => {
          await sut.putContent('/valid', Buffer.from('x'));
          const calls: [string, () => Promise<unknown>][] = [
            ['stat', () => sut.stat(path)],
            ['reader', () => sut.reader(path)],
            ['write', () => sut.write(path, Readable.from([Buffer.from('x')]))],
            ['getContent', () => sut.getContent(path)],
            ['putContent', () => sut.putContent(path, Buffer.from('x'))],
            ['move from', () => sut.move(path, '/valid')],
            ['move to', () => sut.move('/valid', path)],
            ['delete', () => sut.delete(path)],
            ['list', () => sut.list(path)],
            ['walk', () => walkAll(sut, path)],
            ['redirectUrl', () => sut.redirectUrl(path, { method: 'GET', expiresInSeconds: 60 })],
          ];
          for (const [method, call] of calls) {
            await expect(call().then(() => method)).rejects.toBeInstanceOf(InvalidPathError);
          }
          expect((await sut.getContent('/valid')).toString()).toBe('x');
        },
      );

      it('rejects the root where an object is meant', async () => {
        await sut.putContent('/valid', Buffer.from('x'));
        const calls: [string, () => Promise<unknown>][] = [
          ['stat', () => sut.stat('/')],
          ['reader', () => sut.reader('/')],
          ['write', () => sut.write('/', Readable.from([Buffer.from('x')]))],
          ['getContent', () => sut.getContent('/')],
          ['putContent', () => sut.putContent('/', Buffer.from('x'))],
          ['move from', () => sut.move('/', '/valid')],
          ['move to', () => sut.move('/valid', '/')],
          ['redirectUrl', () => sut.redirectUrl('/', { method: 'GET', expiresInSeconds: 60 })],
        ];
        for (const [method, call] of calls) {
          await expect(call().then(() => method)).rejects.toBeInstanceOf(InvalidPathError);
        }
      });

      it('accepts every character of the grammar', async () => {
        const paths = ['/.hidden', '/ABC-xyz_019.tar', '/dots/...', '/dots/.x./-_-'];
        for (const path of paths) await sut.putContent(path, Buffer.from(path));
        for (const path of paths) expect((await sut.getContent(path)).toString()).toBe(path);
        expect(await sut.list('/dots')).toEqual(['/dots/...', '/dots/.x.']);
        expect((await walkAll(sut, '/')).map((file) => file.path).sort()).toEqual([...paths].sort());
      });
    });
  });
}

/** The deterministic byte at `position` of generated content; differs across 8 MiB part shifts. */
/**
 * A destination with a socket's contract: a chunk is copied before its write callback fires, so
 * the writer may reuse the buffer. It fails like a vanished client after `failAfter` bytes.
 */
class SocketLike extends Writable {
  private readonly chunks: Buffer[] = [];
  private received = 0;
  ended = false;

  constructor(
    private readonly onData?: () => void,
    private readonly failAfter = Number.POSITIVE_INFINITY,
  ) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.onData?.();
    this.received += chunk.length;
    if (this.received > this.failAfter) {
      callback(new Error('client went away'));
      return;
    }
    this.chunks.push(Buffer.from(chunk));
    setImmediate(callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.ended = true;
    callback();
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function patternByte(position: number): number {
  return (position ^ (position >>> 8) ^ (position >>> 16) ^ (position >>> 24) ^ 0x5a) & 0xff;
}

/** `length` bytes of generated content starting at `offset`. */
function pattern(offset: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = patternByte(offset + i);
  return bytes;
}

/**
 * A source of `total` generated bytes, made chunk by chunk as the driver reads, so a large source
 * costs no memory of its own; with `failAt`, it errors with `failure` once it has given that much.
 */
function patternSource(total: number, options: { failAt?: number; failure?: Error } = {}): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    for (let offset = 0; offset < total; offset += CHUNK) {
      if (options.failAt !== undefined && offset >= options.failAt) {
        // Let the driver act on what it has, as a network source that stalls and then breaks.
        await sleep(10);
        throw options.failure ?? new Error('source failed');
      }
      yield pattern(offset, Math.min(CHUNK, total - offset));
    }
  }
  return Readable.from(generate(), { objectMode: false });
}

function patternDigest(total: number): string {
  const hash = createHash('sha256');
  for (let offset = 0; offset < total; offset += CHUNK)
    hash.update(pattern(offset, Math.min(CHUNK, total - offset)));
  return hash.digest('hex');
}

/** A source of `size` bytes of `fill`, yielding to the event loop between chunks so writers interleave. */
function slowFilledSource(fill: number, size: number): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    for (let offset = 0; offset < size; offset += 32 * 1024) {
      await new Promise((resolve) => setImmediate(resolve));
      yield Buffer.alloc(Math.min(32 * 1024, size - offset), fill);
    }
  }
  return Readable.from(generate(), { objectMode: false });
}

/** Waits until the driver has taken everything written to `source` so far. */
async function drained(source: PassThrough): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (source.readableLength > 0 || source.writableLength > 0) {
    if (Date.now() > deadline) throw new Error('the driver stopped reading its source');
    await sleep(10);
  }
  // Give the driver a moment to act on the last chunk (an S3 part upload, a file write).
  await sleep(100);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function digestOf(stream: Readable): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

async function walkAll(driver: StorageDriver, path: string): Promise<FileInfo[]> {
  const files: FileInfo[] = [];
  for await (const file of driver.walk(path)) files.push(file);
  return files;
}

function byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}
