import 'reflect-metadata';
import { openDatabase } from '@berth/db';
import { openBus, runProcess, startHttpApp } from '@berth/server';
import { MetadataAppModule } from './metadata-app.module';

// Serves the metadata subjects over NATS; its HTTP port only answers health probes.
runProcess('metadata', async (config, logger) => {
  const database = await openDatabase(config.database, logger);
  const bus = await openBus(config, logger, 'metadata');
  const app = await startHttpApp(MetadataAppModule.register({ config, logger, bus, database }), {
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
