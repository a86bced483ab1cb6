import { Inject, Module, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Bus } from '@berth/bus';
import type { BerthConfig } from '@berth/config';
import {
  AppendUploadChunk,
  BlobUnlinked,
  CancelUpload,
  CompleteUpload,
  DeleteBlob,
  GetUpload,
  MountBlob,
  StartUpload,
  StatBlob,
} from '@berth/contracts';
import type { Database } from '@berth/db';
import { CONFIG, DATABASE, LOGGER, Readiness, STORAGE } from '@berth/server';
import type { StorageDriver } from '@berth/storage';
import type { Logger } from 'pino';
import { BlobRepository } from './blob.repository';
import { BlobstoreService } from './blobstore.service';

/**
 * The blobstore service as a module: it answers the blob and upload subjects on the bus and
 * sweeps abandoned uploads on a timer.
 */
@Module({
  providers: [
    {
      provide: BlobstoreService,
      inject: [DATABASE, STORAGE, CONFIG, Bus, LOGGER],
      useFactory: (
        database: Database,
        storage: StorageDriver,
        config: BerthConfig,
        bus: Bus,
        logger: Logger,
      ) =>
        new BlobstoreService(
          new BlobRepository(database.client, config.uploads.ttlSeconds * 1000),
          storage,
          bus,
          logger.child({ module: 'blobstore' }),
          config.uploads.ttlSeconds * 1000,
        ),
    },
  ],
  exports: [BlobstoreService],
})
export class BlobstoreModule implements OnModuleInit, OnModuleDestroy {
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly service: BlobstoreService,
    private readonly bus: Bus,
    private readonly readiness: Readiness,
    @Inject(DATABASE) private readonly database: Database,
    @Inject(CONFIG) private readonly config: BerthConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    const { service, bus } = this;
    await bus.handle(StatBlob, (r) => service.stat(r.repository, r.digest));
    await bus.handle(DeleteBlob, (r) => service.delete(r.repository, r.digest, r.requestId));
    await bus.handle(MountBlob, (r) => service.mount(r.repository, r.from, r.digest, r.requestId));
    await bus.handle(StartUpload, (r) => service.start(r.repository));
    await bus.handle(GetUpload, (r) => service.session(r.repository, r.id));
    await bus.handle(AppendUploadChunk, (r) =>
      service.append(r.repository, r.id, { offset: r.offset, size: r.size, path: r.path }),
    );
    await bus.handle(CompleteUpload, (r) => service.complete(r));
    await bus.handle(CancelUpload, (r) => service.cancel(r.repository, r.id));
    await bus.onBroadcast(BlobUnlinked, (r) => {
      service.forget(r.repository, r.digest);
    });
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

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }
}
