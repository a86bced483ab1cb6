import type { Digest } from '@berth/oci';
import { PathNotFoundError, RegistryStorage, type StorageDriver } from '@berth/storage';
import type { ManifestContent } from './metadata.service';

/** Manifest bytes where the gateway stores them: in blob storage, under their digest. */
export class StoredManifests implements ManifestContent {
  private readonly storage: RegistryStorage;

  constructor(driver: StorageDriver) {
    this.storage = new RegistryStorage(driver);
  }

  async read(digest: Digest): Promise<Buffer | null> {
    try {
      return await this.storage.getBlob(digest);
    } catch (error) {
      if (error instanceof PathNotFoundError) return null;
      throw error;
    }
  }
}
