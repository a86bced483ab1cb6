import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/**
 * Where the test services are. Environment URLs win (`BERTH_TEST_DATABASE_URL`,
 * `BERTH_TEST_NATS_URL`); else, when a Docker engine is reachable, testcontainers starts them;
 * else the local defaults the development machines and CI run (PostgreSQL on 127.0.0.1:5432 with
 * trust auth, NATS with JetStream on 127.0.0.1:4222).
 */
export interface TestServices {
  /** A URL of a PostgreSQL database whose user may create databases. */
  readonly postgresUrl: string;
  /** NATS server URL(s). */
  readonly natsUrl: string;
}

let services: Promise<TestServices> | undefined;

/** The test services, started or located once per test process. */
export function testServices(): Promise<TestServices> {
  services ??= locate();
  return services;
}

async function locate(): Promise<TestServices> {
  const envPostgres = process.env['BERTH_TEST_DATABASE_URL'];
  const envNats = process.env['BERTH_TEST_NATS_URL'];
  if (envPostgres !== undefined && envNats !== undefined)
    return { postgresUrl: envPostgres, natsUrl: envNats };
  const fromContainers = dockerReachable() ? await fromTestcontainers() : null;
  return {
    postgresUrl: envPostgres ?? fromContainers?.postgresUrl ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    natsUrl: envNats ?? fromContainers?.natsUrl ?? 'nats://127.0.0.1:4222',
  };
}

function dockerReachable(): boolean {
  return process.env['DOCKER_HOST'] !== undefined || existsSync('/var/run/docker.sock');
}

async function fromTestcontainers(): Promise<TestServices | null> {
  try {
    const { GenericContainer, Wait } = await import('testcontainers');
    const postgres = await new GenericContainer('postgres:15')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    const nats = await new GenericContainer('nats:2.10').withCommand(['-js']).withExposedPorts(4222).start();
    return {
      postgresUrl: `postgres://postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/postgres`,
      natsUrl: `nats://${nats.getHost()}:${nats.getMappedPort(4222)}`,
    };
  } catch {
    // An engine that cannot pull or run the images is as good as none: use the local services.
    return null;
  }
}

/** A database of its own for one test file or one registry under test. */
export interface TestDatabase {
  readonly url: string;
  /** Drops the database, closing what still uses it. */
  drop(): Promise<void>;
}

/** Creates a fresh, empty PostgreSQL database. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const { postgresUrl } = await testServices();
  const name = `berth_test_${randomBytes(6).toString('hex')}`;
  await withAdmin(postgresUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      withAdmin(postgresUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}

/** A NATS subject namespace of its own, so tests sharing one server never see each other's messages. */
export function uniqueNamespace(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

async function withAdmin(url: string, work: (client: Client) => Promise<unknown>): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
