import { ConfigError, loadConfig, redactConfig } from './berth.config';

describe('loadConfig', () => {
  it('gives the all-in-one defaults with no settings', () => {
    const sut = loadConfig({});
    expect(sut.http.port).toBe(5000);
    expect(sut.database.url).toBeNull();
    expect(sut.bus.kind).toBe('in-process');
    expect(sut.storage).toEqual({
      driver: 'filesystem',
      root: expect.stringMatching(/data\/blobs$/) as unknown,
    });
  });

  it('reads BERTH_* variables', () => {
    const sut = loadConfig({
      BERTH_HTTP_PORT: '6000',
      BERTH_BUS: 'nats',
      BERTH_DATABASE_URL: 'postgres://u@h:5432/db',
      BERTH_STORAGE_DRIVER: 's3',
      BERTH_S3_ENDPOINT: 'http://127.0.0.1:9000',
      BERTH_S3_BUCKET: 'berth',
      BERTH_S3_ACCESS_KEY: 'k',
      BERTH_S3_SECRET_KEY: 's',
    });
    expect(sut.http.port).toBe(6000);
    expect(sut.bus.kind).toBe('nats');
    expect(sut.storage.driver).toBe('s3');
    expect(JSON.stringify(redactConfig(sut))).not.toContain('"s"');
  });

  it('names every bad key at once', () => {
    let caught: unknown;
    try {
      loadConfig({
        BERTH_HTTP_PORT: 'eighty',
        BERTH_BUS: 'carrier-pigeon',
        BERTH_HTTPPORT: '1',
        BERTH_STORAGE_DRIVER: 's3',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as ConfigError).message;
    expect(message).toContain('BERTH_HTTP_PORT');
    expect(message).toContain('BERTH_BUS');
    expect(message).toContain('BERTH_HTTPPORT: unknown setting');
    expect(message).toContain('storage.s3.bucket');
  });
});
