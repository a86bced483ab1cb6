import { Module } from '@nestjs/common';
import { Bus } from '@berth/bus';
import type { BerthConfig } from '@berth/config';
import { CONFIG, LOGGER } from '@berth/server';
import type { Logger } from 'pino';
import { RegistryAuth } from './auth/registry-auth';
import { BlobsHandler } from './blobs.handler';
import { DistributionController } from './distribution.controller';
import { ListingsHandler } from './listings.handler';
import { ManifestBodies } from './manifest-bodies';
import { ManifestsHandler } from './manifests.handler';
import { OciErrorFilter } from './oci-error.filter';
import { PullRecorder } from './pull-recorder';
import { UploadHashes } from './upload-hashes';
import { UploadsHandler } from './uploads.handler';

/** The HTTP edge: the OCI Distribution API, speaking to metadata and blobstore over the bus. */
@Module({
  controllers: [DistributionController],
  providers: [
    BlobsHandler,
    UploadsHandler,
    ManifestsHandler,
    ListingsHandler,
    OciErrorFilter,
    RegistryAuth,
    { provide: UploadHashes, useFactory: () => new UploadHashes() },
    {
      provide: PullRecorder,
      inject: [Bus, LOGGER],
      useFactory: (bus: Bus, logger: Logger) => new PullRecorder(bus, logger.child({ module: 'gateway' })),
    },
    {
      provide: ManifestBodies,
      inject: [CONFIG],
      useFactory: (config: BerthConfig) => new ManifestBodies(config.cache.manifestBodyBytes),
    },
  ],
})
export class GatewayModule {}
