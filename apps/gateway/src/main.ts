import 'reflect-metadata';
import { openBus, runProcess, startHttpApp } from '@berth/server';
import { openStorageDriver } from '@berth/storage';
import { GatewayAppModule } from './gateway-app.module';

// The stateless HTTP edge of the distributed shape: run as many replicas as traffic needs.
runProcess('gateway', async (config, logger) => {
  const bus = await openBus(config, logger, 'gateway');
  const storage = await openStorageDriver(config.storage);
  const app = await startHttpApp(GatewayAppModule.register({ config, logger, bus, storage }), {
    host: config.http.host,
    port: config.http.port,
    logger,
  });
  logger.info({ url: await app.getUrl(), storage: storage.name }, 'berth gateway listening');
  return {
    close: async () => {
      await app.close();
      await bus.close();
    },
  };
});
