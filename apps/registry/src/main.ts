import 'reflect-metadata';
import { openDatabase } from '@berth/db';
import { openBus, runProcess, startHttpApp } from '@berth/server';
import { openStorageDriver } from '@berth/storage';
import { RegistryModule } from './registry.module';

// The all-in-one: gateway, metadata and blobstore in one process. With no settings it keeps
// blobs and an embedded PostgreSQL (PGlite) under ./data and uses the in-process bus.
runProcess('registry', async (config, logger) => {
  const database = await openDatabase(config.database, logger);
  const bus = await openBus(config, logger, 'registry');
  const storage = await openStorageDriver(config.storage);
  const app = await startHttpApp(RegistryModule.register({ config, logger, bus, storage }, database), {
    host: config.http.host,
    port: config.http.port,
    logger,
  });
  logger.info(
    { url: await app.getUrl(), database: database.kind, storage: storage.name, bus: config.bus.kind },
    'berth registry listening',
  );
  return {
    close: async () => {
      await app.close();
      await bus.close();
      await database.close();
    },
  };
});
