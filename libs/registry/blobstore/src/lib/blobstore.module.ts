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
import { BlobRepository } from './blob.repository';
import { BlobstoreBusController } from './blobstore.bus-controller';
import { BlobstoreService } from './blobstore.service';

/**
 * The blobstore service as a module: it answers the blob and upload subjects on the bus
 * ({@link BlobstoreBusController}), sweeps
 * abandoned uploads on a timer and relays the events its changes write to the outbox.
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
      provide: BlobstoreService,
      inject: [DATABASE, STORAGE, CONFIG, Bus, LOGGER, OutboxRelay],
      useFactory: (
        database: Database,
        storage: StorageDriver,
        config: BerthConfig,
        bus: Bus,
        logger: Logger,
        relay: OutboxRelay,
      ) =>
        new BlobstoreService(
          new BlobRepository(
            database.client,
            config.uploads.ttlSeconds * 1000,
            new Outbox(() => {
              relay.nudge();
            }),
          ),
          storage,
          bus,
          logger.child({ module: 'blobstore' }),
          config.uploads.ttlSeconds * 1000,
        ),
    },
    BlobstoreBusController,
  ],
  exports: [BlobstoreService],
})
export class BlobstoreModule implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly service: BlobstoreService,
    private readonly readiness: Readiness,
    private readonly relay: OutboxRelay,
    @Inject(DATABASE) private readonly database: Database,
    @Inject(CONFIG) private readonly config: BerthConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit(): void {
    const { service } = this;
    this.readiness.add('database', async () => {
      await this.database.client.$queryRaw`SELECT 1`;
    });
    this.sweeper = setInterval(() => {
      service.sweep().then(
        (count) => {
          if (count > 0) this.logger.info({ count }, 'swept abandoned uploads');
        },
        (error: unknown) => {
          this.logger.error({ err: error }, 'upload sweep failed');
        },
      );
    }, this.config.uploads.sweepIntervalSeconds * 1000);
    this.sweeper.unref();
  }

  /**
   * The relay starts once every module has subscribed to the bus: the in-process bus hands an
   * event only to the subscribers it has when the event is published.
   */
  onApplicationBootstrap(): void {
    this.relay.start();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.sweeper);
    await this.relay.stop();
  }
}
