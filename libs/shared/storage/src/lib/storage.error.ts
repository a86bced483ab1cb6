/** Base class of every error a storage driver throws on purpose. */
export class StorageError extends Error {
  constructor(
    message: string,
    readonly driver: string,
    readonly path: string,
  ) {
    super(message);
  }
}

/** Nothing is stored at the path. */
export class PathNotFoundError extends StorageError {
  override readonly name = 'PathNotFoundError';
  constructor(driver: string, path: string) {
    super(`${driver}: path not found: ${path}`, driver, path);
  }
}

/** The path breaks the path grammar (see {@link validateStoragePath}). */
export class InvalidPathError extends StorageError {
  override readonly name = 'InvalidPathError';
  constructor(driver: string, path: string) {
    super(`${driver}: invalid path: ${JSON.stringify(path)}`, driver, path);
  }
}

/** A read began past the end of the object. */
export class InvalidOffsetError extends StorageError {
  override readonly name = 'InvalidOffsetError';
  constructor(
    driver: string,
    path: string,
    readonly offset: number,
  ) {
    super(`${driver}: invalid offset ${offset} for ${path}`, driver, path);
  }
}
