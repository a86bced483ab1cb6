import 'reflect-metadata';
import { openDatabase } from '@berth/db';
import { openBus, runProcess, startHttpApp } from '@berth/server';
import { openStorageDriver } from '@berth/storage';
import { BlobstoreAppModule } from './blobstore-app.module';

// Serves the blob and upload subjects over NATS; its HTTP port only answers health probes.
runProcess('blobstore', async (config, logger) => {
  const database = await openDatabase({ ...config.database, stores: ['registry', 'events'] }, logger);
  const bus = await openBus(config, logger, 'blobstore');
  const storage = await openStorageDriver(config.storage);
  const app = await startHttpApp(BlobstoreAppModule.register({ config, logger, bus, storage }, database), {
    host: config.http.host,
    port: config.http.port,
    logger,
  });
  logger.info(
    { url: await app.getUrl(), database: database.kind, storage: storage.name },
    'berth blobstore ready',
  );
  return {
    close: async () => {
      await app.close();
      await bus.close();
      await database.close();
    },
  };
});
