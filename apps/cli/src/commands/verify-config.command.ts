import { ConfigError, loadSettings, redactSettings } from '@berth/config';
import { stringify } from 'yaml';
import type { Command } from '../command';

/**
 * `berth verify-config`: reads the configuration exactly as a service does (the `BERTH_*`
 * environment and the YAML file named by `BERTH_CONFIG`) and prints the effective settings as
 * YAML, defaults applied and secrets masked; or every problem, with exit code 2. It opens no
 * database, bus or storage, so it can run anywhere the configuration is, before a deployment.
 */
export const verifyConfigCommand: Command = {
  summary: 'check the configuration and print it, defaults applied and secrets masked',
  run: (args, output) => {
    if (args.length > 0) {
      output.stderr.write(`berth verify-config: takes no arguments, got ${args.join(' ')}\n`);
      return 2;
    }
    try {
      output.stdout.write(stringify(redactSettings(loadSettings())));
      return 0;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      output.stderr.write(`berth verify-config: ${error.message}\n`);
      return 2;
    }
  },
};
