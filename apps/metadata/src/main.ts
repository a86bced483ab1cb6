import 'reflect-metadata';
import { openDatabase } from '@berth/db';
import { openBus, runProcess, startHttpApp } from '@berth/server';
import { openStorageDriver } from '@berth/storage';
import { MetadataAppModule } from './metadata-app.module';

// Serves the metadata subjects over NATS; its HTTP port only answers health probes. It reads
// manifest bytes from blob storage, where the gateway stored them by digest.
runProcess('metadata', async (config, logger) => {
  const database = await openDatabase({ ...config.database, stores: ['registry', 'events'] }, logger);
  const bus = await openBus(config, logger, 'metadata');
  const storage = await openStorageDriver(config.storage);
  const app = await startHttpApp(MetadataAppModule.register({ config, logger, bus, storage }, database), {
    host: config.http.host,
    port: config.http.port,
    logger,
  });
  logger.info({ url: await app.getUrl(), database: database.kind }, 'berth metadata ready');
  return {
    close: async () => {
      await app.close();
      await bus.close();
      await database.close();
    },
  };
});
