import type { Readable, Writable } from 'node:stream';
import type {
  FileInfo,
  ReadOptions,
  RedirectOptions,
  SendOptions,
  StorageDriver,
  WriteOptions,
} from './storage.driver';
import { InvalidOffsetError, InvalidPathError } from './storage.error';
import { validateStoragePath } from './storage-path';

/**
 * The base every driver passes through: it checks each argument before the backend sees it, so
 * that all drivers reject the same inputs with the same errors and no driver has to.
 *
 * Paths must follow {@link validateStoragePath}; `/` names the root, which is a directory, so it
 * is accepted by {@link StorageDriver.list}, {@link StorageDriver.walk} and
 * {@link StorageDriver.delete} only and is an {@link InvalidPathError} wherever an object is
 * meant. A read offset that is not a non-negative integer is an {@link InvalidOffsetError}; a
 * length or size hint that is not one is a `RangeError`.
 */
export class ValidatingDriver implements StorageDriver {
  readonly name: string;

  constructor(private readonly driver: StorageDriver) {
    this.name = driver.name;
  }

  async stat(path: string): Promise<FileInfo> {
    this.checkObjectPath(path);
    return this.driver.stat(path);
  }

  async reader(path: string, options: ReadOptions = {}): Promise<Readable> {
    this.checkReadOptions(path, options);
    return this.driver.reader(path, options);
  }

  private checkReadOptions(path: string, options: ReadOptions): void {
    this.checkObjectPath(path);
    const offset = options.offset ?? 0;
    if (!isCount(offset)) throw new InvalidOffsetError(this.name, path, offset);
    if (options.length !== undefined && !isCount(options.length)) {
      throw new RangeError(`${this.name}: invalid read length ${options.length} for ${path}`);
    }
  }

  async send(path: string, destination: Writable, options: SendOptions = {}): Promise<void> {
    this.checkReadOptions(path, options);
    return this.driver.send(path, destination, options);
  }

  async write(path: string, source: Readable, options: WriteOptions = {}): Promise<number> {
    this.checkObjectPath(path);
    if (options.size !== undefined && !isCount(options.size)) {
      throw new RangeError(`${this.name}: invalid size hint ${options.size} for ${path}`);
    }
    return this.driver.write(path, source, options);
  }

  async getContent(path: string): Promise<Buffer> {
    this.checkObjectPath(path);
    return this.driver.getContent(path);
  }

  async putContent(path: string, content: Uint8Array): Promise<void> {
    this.checkObjectPath(path);
    return this.driver.putContent(path, content);
  }

  async move(source: string, destination: string): Promise<void> {
    this.checkObjectPath(source);
    this.checkObjectPath(destination);
    return this.driver.move(source, destination);
  }

  async delete(path: string): Promise<void> {
    validateStoragePath(this.name, path);
    return this.driver.delete(path);
  }

  async list(path: string): Promise<string[]> {
    validateStoragePath(this.name, path);
    return this.driver.list(path);
  }

  /** Throws at once, not on the first iteration, so that a bad path fails where it is passed. */
  walk(path: string): AsyncIterable<FileInfo> {
    validateStoragePath(this.name, path);
    return this.driver.walk(path);
  }

  async redirectUrl(path: string, options: RedirectOptions): Promise<string | null> {
    this.checkObjectPath(path);
    return this.driver.redirectUrl(path, options);
  }

  private checkObjectPath(path: string): void {
    validateStoragePath(this.name, path);
    if (path === '/') throw new InvalidPathError(this.name, path);
  }
}

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}
