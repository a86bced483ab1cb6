import {
  Inject,
  Module,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { Bus } from '@berth/bus';
import type { BerthConfig } from '@berth/config';
import { DATABASE, type Database } from '@berth/db';
import { Outbox, OutboxRelay } from '@berth/outbox';
import { CONFIG, LOGGER, Readiness, STORAGE } from '@berth/server';
import type { StorageDriver } from '@berth/storage';
import type { Logger } from 'pino';
import { ManifestCache } from './manifest.cache';
import { ManifestRepository } from './manifest.repository';
import { MetadataBusController } from './metadata.bus-controller';
import { MetadataService } from './metadata.service';
import { StoredManifests } from './stored-manifests';

/**
 * The metadata service as a module: it answers the metadata subjects on the bus
 * ({@link MetadataBusController}), whichever shape the process has (NATS in its own Deployment,
 * in-process in the all-in-one), and relays the events its changes write to the outbox.
 */
@Module({
  providers: [
    {
      provide: OutboxRelay,
      inject: [DATABASE, Bus, LOGGER],
      useFactory: (database: Database, bus: Bus, logger: Logger) =>
        // One relay per database and process: in the all-in-one, metadata and blobstore share it.
        OutboxRelay.shared(database.client, bus, logger.child({ component: 'outbox-relay' })),
    },
    {
      provide: MetadataService,
      inject: [DATABASE, CONFIG, Bus, OutboxRelay, STORAGE],
      useFactory: (
        database: Database,
        config: BerthConfig,
        bus: Bus,
        relay: OutboxRelay,
        storage: StorageDriver,
      ) =>
        new MetadataService(
          new ManifestRepository(
            database.client,
            new Outbox(() => {
              relay.nudge();
            }),
          ),
          new ManifestCache(config.cache.manifestEntries),
          bus,
          new StoredManifests(storage),
        ),
    },
    MetadataBusController,
  ],
  exports: [MetadataService],
})
export class MetadataModule implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    private readonly readiness: Readiness,
    private readonly relay: OutboxRelay,
    @Inject(DATABASE) private readonly database: Database,
  ) {}

  onModuleInit(): void {
    this.readiness.add('database', async () => {
      await this.database.client.$queryRaw`SELECT 1`;
    });
  }

  /**
   * The relay starts once every module has subscribed to the bus: the in-process bus hands an
   * event only to the subscribers it has when the event is published.
   */
  onApplicationBootstrap(): void {
    this.relay.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.relay.stop();
  }
}
