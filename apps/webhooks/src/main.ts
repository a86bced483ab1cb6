import 'reflect-metadata';
import { openDatabase } from '@berth/db';
import { openBus, runProcess, startHttpApp } from '@berth/server';
import { WebhooksAppModule } from './webhooks-app.module';

// The webhooks service of the distributed shape: a durable consumer of the event stream, the
// dispatcher of deliveries, and `/api/v1/projects/{project}/webhooks` (route that path here).
runProcess('webhooks', async (config, logger) => {
  const database = await openDatabase({ ...config.database, stores: ['webhooks'] }, logger);
  const bus = await openBus(config, logger, 'webhooks');
  const app = await startHttpApp(WebhooksAppModule.register({ config, logger, bus }, database), {
    host: config.http.host,
    port: config.http.port,
    logger,
  });
  logger.info({ url: await app.getUrl(), database: database.kind }, 'berth webhooks listening');
  return {
    close: async () => {
      await app.close();
      await bus.close();
      await database.close();
    },
  };
});
