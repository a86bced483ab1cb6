/** Keeps blobs in a directory on a local (or mounted) filesystem. */
export interface FilesystemStorageConfig {
  readonly driver: 'filesystem';
  /**
   * The directory that holds every object; created on demand. Berth owns it: the driver keeps its
   * temporary files in it, and entries whose names break the path grammar are ignored.
   */
  readonly root: string;
}

/** Keeps blobs in a bucket of an S3-compatible object store. */
export interface S3StorageConfig {
  readonly driver: 's3';
  /** The service's base URL, e.g. `http://127.0.0.1:9000` or `https://s3.eu-west-1.amazonaws.com`. */
  readonly endpoint: string;
  /** The region to sign requests for, e.g. `us-east-1`. */
  readonly region: string;
  /** The bucket that holds Berth's objects. */
  readonly bucket: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /**
   * A key prefix inside the bucket, so that Berth can share a bucket; `''` or absent uses the
   * bucket's top level. `berth` and `berth/` both place keys under `berth/`.
   */
  readonly prefix?: string;
}

/** Which storage driver to use, and how to reach its backend. */
export type StorageConfig = FilesystemStorageConfig | S3StorageConfig;
