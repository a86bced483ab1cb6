import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

const ROOT = resolve(__dirname, '../../..');

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `berth <args>` from source, as a person would, with only `env` as its environment. */
function berth(args: readonly string[], env: Record<string, string>): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      ['-r', '@swc-node/register', 'apps/cli/src/main.ts', ...args],
      // No BERTH_* from the test's own environment, and none of Jest's NODE_OPTIONS.
      { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', fail);
    child.on('close', (code) => {
      done({ code, stdout, stderr });
    });
  });
}

describe('berth verify-config', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-cli-'));
    file = join(dir, 'berth.yaml');
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('names every mistyped key of the file and exits 2', async () => {
    writeFileSync(file, 'http: { prot: 6000 }\nauth:\n  oidcTrsut: []\n');

    const sut = await berth(['verify-config'], { BERTH_CONFIG: file });

    expect(sut.code).toBe(2);
    expect(sut.stderr).toContain('http.prot: unknown key');
    expect(sut.stderr).toContain('auth.oidcTrsut: unknown key');
    expect(sut.stdout).toBe('');
  });

  it('prints the effective configuration as YAML with its secrets masked, and exits 0', async () => {
    writeFileSync(
      file,
      'http: { port: 6000 }\ndatabase: { url: "postgres://berth:hunter2-db@db:5432/berth" }\n',
    );

    const sut = await berth(['verify-config'], {
      BERTH_CONFIG: file,
      BERTH_ADMIN_PASSWORD: 'hunter2-admin',
    });

    expect(sut).toMatchObject({ code: 0, stderr: '' });
    expect(parse(sut.stdout)).toMatchObject({
      http: { host: '0.0.0.0', port: 6000 },
      database: { url: '***' },
      auth: { mode: 'token', adminPassword: '***' },
    });
    expect(sut.stdout).not.toContain('hunter2');
  });
});

describe('berth', () => {
  it('prints its usage and exits 2 for a command it does not know', async () => {
    const sut = await berth(['verify-konfig'], {});

    expect(sut.code).toBe(2);
    expect(sut.stderr).toContain('berth: unknown command verify-konfig');
    expect(sut.stderr).toMatch(/usage: berth <command>[\s\S]*verify-config/);
  });
});
