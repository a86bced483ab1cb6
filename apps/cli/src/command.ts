/** Where a command writes: the process's streams, or a test's. */
export interface CommandOutput {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

/** One `berth <name>` subcommand. */
export interface Command {
  /** One line for the usage text. */
  readonly summary: string;
  /**
   * Runs with the arguments after the command's name and gives the process's exit code: 0 on
   * success, 2 for a usage or configuration error. A failure it cannot explain throws or rejects.
   */
  run(args: readonly string[], output: CommandOutput): number | Promise<number>;
}
