import type { Command, CommandOutput } from './command';
import { verifyConfigCommand } from './commands/verify-config.command';

/** Every `berth` subcommand by its name; a new one is one line here. */
const COMMANDS: Readonly<Record<string, Command>> = {
  'verify-config': verifyConfigCommand,
};

const HELP = new Set(['help', '--help', '-h']);

/**
 * Runs `berth <command> [args…]` and resolves to the exit code: the command's own, 0 for help,
 * 2 (after the usage text) for a missing or unknown command. It rejects when the command fails.
 */
export async function runCli(argv: readonly string[], output: CommandOutput): Promise<number> {
  const [name, ...args] = argv;
  if (name !== undefined && HELP.has(name)) {
    output.stdout.write(usage());
    return 0;
  }
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command) {
    output.stderr.write(`${name === undefined ? '' : `berth: unknown command ${name}\n`}${usage()}`);
    return 2;
  }
  return await command.run(args, output);
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(
    ([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`,
  );
  return `usage: berth <command>\n\ncommands:\n${lines.join('\n')}\n`;
}
