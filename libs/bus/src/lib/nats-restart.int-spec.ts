import { DeleteBlob, StatBlob } from '@berth/contracts';
import { OciError } from '@berth/oci';
import { startPrivateNats, type PrivateNats } from '@berth/testing';
import { NatsBus } from './nats.bus';

const digest = `sha256:${'f'.repeat(64)}`;

describe('NatsBus across a NATS restart', () => {
  let nats: PrivateNats;
  let server: NatsBus;
  let client: NatsBus;

  beforeAll(async () => {
    nats = await startPrivateNats();
    server = await NatsBus.connect({ servers: nats.url, namespace: '', name: 'restart-server' });
    client = await NatsBus.connect({ servers: nats.url, namespace: '', name: 'restart-client' });
    await server.handle(StatBlob, (request) => Promise.resolve({ digest: request.digest, size: 1 }));
    // Never answers: a request to it waits for as long as NATS lets it.
    await server.handle(DeleteBlob, () => new Promise<never>(() => undefined));
  });

  afterAll(async () => {
    await client.close();
    await server.close();
    await nats.stop();
  });

  it('fails a request waiting for its answer when NATS goes down, rather than after its timeout', async () => {
    const waiting = client
      .request(DeleteBlob, { repository: 'a/b', digest, requestId: 'r-1', actor: null })
      .catch((error: unknown) => error);
    await new Promise((wake) => setTimeout(wake, 200));
    const stoppedAt = Date.now();
    await nats.stopServer();
    const refused = await waiting;
    expect(refused).toBeInstanceOf(OciError);
    expect((refused as OciError).code).toBe('UNAVAILABLE');
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
    await nats.startServer();
    // The next test starts from a connected client.
    const deadline = Date.now() + 20_000;
    while ((await client.request(StatBlob, { repository: 'a/b', digest }).catch(() => null)) === null) {
      if (Date.now() > deadline) throw new Error('the bus did not recover after NATS came back');
      await new Promise((wake) => setTimeout(wake, 200));
    }
  });

  it('fails a request at once while NATS is down, rather than after its timeout, and recovers', async () => {
    await expect(client.request(StatBlob, { repository: 'a/b', digest })).resolves.toEqual({
      digest,
      size: 1,
    });
    await nats.stopServer();
    // The client notices the lost connection within moments.
    await new Promise((wake) => setTimeout(wake, 500));
    const started = Date.now();
    const refused = await client
      .request(StatBlob, { repository: 'a/b', digest })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OciError);
    expect((refused as OciError).code).toBe('UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(1000);

    await nats.startServer();
    const deadline = Date.now() + 20_000;
    for (;;) {
      const answer = await client.request(StatBlob, { repository: 'a/b', digest }).catch(() => null);
      if (answer !== null) {
        expect(answer).toEqual({ digest, size: 1 });
        break;
      }
      if (Date.now() > deadline) throw new Error('the bus did not recover after NATS came back');
      await new Promise((wake) => setTimeout(wake, 200));
    }
  });
});
