import { digestAlgorithm, digestHex, type Digest } from '@berth/oci';

/**
 * Where Berth keeps bytes in a storage driver. This is the one place that builds these paths, and
 * it is private to this library: the services go through {@link RegistryStorage}.
 *
 * ```
 * /
 * ├── blobs/
 * │   └── <algorithm>/<first two hex chars>/<hex>/data      content-addressed, written only after
 * │                                                         its digest was verified; shared by all
 * │                                                         repositories (deduplicated)
 * └── uploads/
 *     └── <upload id>/
 *         ├── chunks/<nonce>                                one object per accepted PATCH/PUT chunk,
 *         │                                                 ordered by the offsets the session records
 *         └── assembled                                     the chunks concatenated, before the move
 * ```
 *
 * Manifests are blobs too: their bytes live under `blobs/` by digest; the database knows which
 * repository holds which manifest and blob.
 */
export const BlobLayout = {
  /** The object holding a blob's bytes. */
  blobData(digest: Digest): string {
    const hex = digestHex(digest);
    return `/blobs/${digestAlgorithm(digest)}/${hex.slice(0, 2)}/${hex}/data`;
  },

  /** The directory of every upload session's data. */
  uploads(): string {
    return '/uploads';
  },

  /** The directory holding everything of one upload session. */
  uploadDir(uploadId: string): string {
    return `/uploads/${uploadId}`;
  },

  /** The directory of an upload's chunks. */
  uploadChunks(uploadId: string): string {
    return `/uploads/${uploadId}/chunks`;
  },

  /** Where an upload's chunks are concatenated before the verified move to {@link BlobLayout.blobData}. */
  uploadAssembled(uploadId: string): string {
    return `/uploads/${uploadId}/assembled`;
  },
} as const;
