import type { LogConfig } from '@berth/config';
import pino, { type DestinationStream, type Logger } from 'pino';

/** Where a process's log lines go, and whether a person is watching them. */
export interface LogOutput {
  /**
   * Whether the output is a terminal, which makes the `auto` format pretty. Optional because
   * Node leaves `isTTY` undefined, not false, on a stream that is not one.
   */
  readonly isTty?: boolean;
  /** Where lines are written; unset means standard output (pino's own destination for JSON). */
  readonly destination?: DestinationStream;
}

/** Pretty lines for `pretty`, and for `auto` on a terminal; JSON lines otherwise. */
export function chooseLogFormat(format: LogConfig['format'], isTty = false): 'json' | 'pretty' {
  switch (format) {
    case 'auto':
      return isTty ? 'pretty' : 'json';
    case 'json':
    case 'pretty':
      return format;
  }
}

/**
 * The logger of a Berth process named `name`, at `config.level`, writing JSON lines or, when
 * {@link chooseLogFormat} says so, pino-pretty's lines to `output`. Both write in the calling
 * thread: a pino transport would start a worker thread, whose memory every process would pay.
 */
export function createProcessLogger(name: string, config: LogConfig, output: LogOutput): Logger {
  const options = { name, level: config.level };
  if (chooseLogFormat(config.format, output.isTty === true) === 'json')
    return output.destination ? pino(options, output.destination) : pino(options);
  return pino(options, prettyDestination(output));
}

/**
 * A destination that formats each JSON line with pino-pretty and writes it at once, so nothing
 * is buffered when the process exits. pino-pretty is loaded here, on first use, so that processes
 * logging JSON never load it.
 */
function prettyDestination(output: LogOutput): DestinationStream {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when chosen
  const { prettyFactory, isColorSupported } = require('pino-pretty') as typeof import('pino-pretty');
  // A person at a terminal watches one process: its pid and host are noise there.
  const prettify = prettyFactory({
    colorize: output.isTty === true && isColorSupported,
    ignore: 'pid,hostname',
  });
  const destination = output.destination ?? process.stdout;
  return {
    write: (line: string) => {
      destination.write(prettify(line));
    },
  };
}
