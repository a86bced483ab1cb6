import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { FilesystemDriver } from './filesystem.driver';
import type { S3Driver } from './s3.driver';
import type { StorageConfig } from './storage.config';
import type { StorageDriver } from './storage.driver';
import { ValidatingDriver } from './validating.driver';

export { ValidatingDriver } from './validating.driver';

/**
 * Builds the driver that `config` names, behind the {@link ValidatingDriver} that every driver
 * passes through. Does no I/O: a missing root or bucket shows up on first use. Services should
 * boot with {@link openStorageDriver} instead, which fails at once.
 */
export function createStorageDriver(config: StorageConfig): StorageDriver {
  switch (config.driver) {
    case 'filesystem':
      return new ValidatingDriver(new FilesystemDriver(config.root));
    case 's3':
      return new ValidatingDriver(new (loadS3Driver())(config));
  }
}

/**
 * Like {@link createStorageDriver}, but first makes sure the backend is usable, so that a service
 * with unusable storage fails its boot instead of its first push: the filesystem root is created
 * and must be writable; the S3 bucket must be reachable with the given credentials and is created
 * when missing.
 */
export async function openStorageDriver(config: StorageConfig): Promise<StorageDriver> {
  switch (config.driver) {
    case 'filesystem':
      await mkdir(config.root, { recursive: true });
      await access(config.root, constants.R_OK | constants.W_OK | constants.X_OK);
      return new ValidatingDriver(new FilesystemDriver(config.root));
    case 's3': {
      const driver = new (loadS3Driver())(config);
      await driver.ensureBucket();
      return new ValidatingDriver(driver);
    }
  }
}

/**
 * The S3 driver, loaded on first use: the S3 client and its dependencies cost ~25 MB of memory,
 * which a registry on the filesystem never needs.
 */
function loadS3Driver(): typeof S3Driver {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberately lazy, see above
  return (require('./s3.driver') as typeof import('./s3.driver')).S3Driver;
}
