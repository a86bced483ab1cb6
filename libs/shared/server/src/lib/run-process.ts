import {
  ConfigError,
  loadSettings,
  redactSettings,
  resolveConfig,
  type BerthConfig,
  type BerthSettings,
} from '@berth/config';
import type { Logger } from 'pino';
import { createProcessLogger } from './process-logger';

/** What a started process gives back so it can be stopped cleanly. */
export interface Started {
  close(): Promise<void>;
}

/**
 * The life of a Berth process: validate the configuration (a bad key stops the process with a
 * message naming it), create the logger, start, and stop cleanly on SIGINT/SIGTERM. Any failure
 * while starting (database or NATS unreachable) exits non-zero; nothing is logged and ignored.
 */
export function runProcess(
  name: string,
  start: (config: BerthConfig, logger: Logger) => Promise<Started>,
): void {
  let settings: BerthSettings;
  try {
    settings = loadSettings();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`berth ${name}: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const config = resolveConfig(settings);
  const logger = createProcessLogger(`berth-${name}`, config.log, { isTty: process.stdout.isTTY });
  logger.debug({ config: redactSettings(settings) }, 'configuration');
  start(config, logger).then(
    (started) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'stopping');
        started.close().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ err: error }, 'error while stopping');
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', () => {
        stop('SIGINT');
      });
      process.once('SIGTERM', () => {
        stop('SIGTERM');
      });
    },
    (error: unknown) => {
      logger.fatal({ err: error }, 'failed to start');
      process.exit(1);
    },
  );
}
