import type { Digest } from '@berth/oci';
import { BlobLayout, PathNotFoundError, type StorageDriver } from '@berth/storage';
import type { ManifestContent } from './metadata.service';

/** Manifest bytes where the gateway stores them: in blob storage, under their digest. */
export class StoredManifests implements ManifestContent {
  constructor(private readonly storage: StorageDriver) {}

  async read(digest: Digest): Promise<Buffer | null> {
    try {
      return await this.storage.getContent(BlobLayout.blobData(digest));
    } catch (error) {
      if (error instanceof PathNotFoundError) return null;
      throw error;
    }
  }
}
