import 'reflect-metadata';
import { openDatabase } from '@berth/db';
import { openBus, runProcess, startHttpApp } from '@berth/server';
import { AuthAppModule } from './auth-app.module';

// The token service and management API of the distributed shape. Route `/token`, `/.well-known/`
// and `/api/v1` of the public host here; the gateways verify its tokens with its public keys.
runProcess('auth', async (config, logger) => {
  const database = await openDatabase({ ...config.database, stores: ['auth'] }, logger);
  const bus = await openBus(config, logger, 'auth');
  const app = await startHttpApp(AuthAppModule.register({ config, logger, bus }, database), {
    host: config.http.host,
    port: config.http.port,
    logger,
  });
  logger.info({ url: await app.getUrl(), database: database.kind }, 'berth auth listening');
  return {
    close: async () => {
      await app.close();
      await bus.close();
      await database.close();
    },
  };
});
