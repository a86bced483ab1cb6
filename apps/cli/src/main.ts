#!/usr/bin/env node
import { runCli } from './cli';

// `berth <command>`: the operator's tool beside the services (`npm run berth -- <command>`).
runCli(process.argv.slice(2), process).then(
  (code) => {
    // Not process.exit(): it could cut off output still being written to a pipe.
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `berth: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
