import {
  Inject,
  Module,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { Bus } from '@berth/bus';
import type { BerthConfig } from '@berth/config';
import {
  DeleteManifest,
  ListReferrers,
  ListRepositories,
  ListTags,
  PutManifest,
  RepositoryChanged,
  ResolveManifest,
} from '@berth/contracts';
import { DATABASE, type Database } from '@berth/db';
import { Outbox, OutboxRelay } from '@berth/outbox';
import { CONFIG, LOGGER, Readiness, STORAGE } from '@berth/server';
import type { StorageDriver } from '@berth/storage';
import type { Logger } from 'pino';
import { ManifestCache } from './manifest.cache';
import { ManifestRepository } from './manifest.repository';
import { MetadataService } from './metadata.service';
import { StoredManifests } from './stored-manifests';

/**
 * The metadata service as a module: it answers the metadata subjects on the bus, whichever shape
 * the process has (NATS in its own Deployment, in-process in the all-in-one), and relays the
 * events its changes write to the outbox.
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
  ],
  exports: [MetadataService],
})
export class MetadataModule implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    private readonly service: MetadataService,
    private readonly bus: Bus,
    private readonly readiness: Readiness,
    private readonly relay: OutboxRelay,
    @Inject(DATABASE) private readonly database: Database,
  ) {}

  async onModuleInit(): Promise<void> {
    const { service, bus } = this;
    await bus.handle(ResolveManifest, (request) => service.resolve(request.repository, request.reference));
    await bus.handle(PutManifest, (request) => service.put(request));
    await bus.handle(DeleteManifest, (request) => service.delete(request));
    await bus.handle(ListTags, (request) => service.listTags(request));
    await bus.handle(ListRepositories, (request) => service.listRepositories(request));
    await bus.handle(ListReferrers, (request) => service.listReferrers(request));
    await bus.onBroadcast(RepositoryChanged, ({ repository }) => {
      service.invalidate(repository);
    });
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
