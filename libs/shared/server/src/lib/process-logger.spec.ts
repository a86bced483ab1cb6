import type { LogConfig } from '@berth/config';
import { chooseLogFormat, createProcessLogger } from './process-logger';

/** Logs one line through a logger made for `format` on an output that is or is not a terminal. */
function logOnce(format: LogConfig['format'], isTty: boolean): string {
  const lines: string[] = [];
  const sut = createProcessLogger(
    'berth-test',
    { level: 'info', format },
    {
      isTty,
      destination: { write: (line: string) => lines.push(line) },
    },
  );
  sut.info({ repository: 'acme/app' }, 'pushed');
  sut.debug('below the level');
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

describe('chooseLogFormat', () => {
  it.each([
    ['auto', true, 'pretty'],
    ['auto', false, 'json'],
    ['json', true, 'json'],
    ['json', false, 'json'],
    ['pretty', true, 'pretty'],
    ['pretty', false, 'pretty'],
  ] as const)('gives %s on a terminal=%s as %s', (format, isTty, expected) => {
    expect(chooseLogFormat(format, isTty)).toBe(expected);
  });
});

describe('createProcessLogger', () => {
  it('writes JSON lines when the output is not a terminal', () => {
    const line = logOnce('auto', false);

    expect(JSON.parse(line)).toMatchObject({
      level: 30,
      name: 'berth-test',
      repository: 'acme/app',
      msg: 'pushed',
    });
  });

  it('writes pino-pretty lines on a terminal', () => {
    const line = logOnce('auto', true);

    expect(() => JSON.parse(line) as unknown).toThrow();
    // Colours only when the test's own terminal supports them; the words are there either way.
    expect(line.replace(/\u001b\[[0-9;]*m/g, '')).toMatch(
      /INFO \(berth-test\): pushed\n\s+repository: "acme\/app"/,
    );
  });

  it('writes pretty lines without colour when told to and the output is not a terminal', () => {
    const line = logOnce('pretty', false);

    expect(line).toMatch(/^\[[0-9:.]+\] INFO \(berth-test\): pushed\n/);
    expect(line).not.toContain('\u001b[');
  });

  it('writes JSON lines on a terminal when told to', () => {
    expect(JSON.parse(logOnce('json', true))).toMatchObject({ msg: 'pushed' });
  });
});
