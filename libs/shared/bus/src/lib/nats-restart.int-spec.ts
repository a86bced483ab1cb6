import { DeleteBlob, StatBlob } from '@berth/contracts';
import { OciError } from '@berth/oci';
import { eventually, startPrivateNats, type PrivateNats } from '@berth/testing';
import { NatsBus } from './nats.bus';

const digest = `sha256:${'f'.repeat(64)}`;

describe('NatsBus across a NATS restart', () => {
  let nats: PrivateNats;
  let server: NatsBus;
  let client: NatsBus;
  /** Requests the never-answering handler has taken. */
  let hung = 0;

  /** Whether a request goes through now (the bus is connected and NATS answers). */
  const answers = async (): Promise<boolean> =>
    (await client.request(StatBlob, { repository: 'a/b', digest }).catch(() => null)) !== null;

  /** Whether a request is refused now because the bus knows it is disconnected. */
  const refusedAsDisconnected = async (): Promise<boolean> => {
    const refused = await client.request(StatBlob, { repository: 'a/b', digest }).catch((e: unknown) => e);
    return refused instanceof OciError && refused.message.includes('bus disconnected');
  };

  beforeAll(async () => {
    nats = await startPrivateNats();
    server = await NatsBus.connect({ servers: nats.url, namespace: '', name: 'restart-server' });
    client = await NatsBus.connect({ servers: nats.url, namespace: '', name: 'restart-client' });
    await server.handle(StatBlob, (request) => Promise.resolve({ digest: request.digest, size: 1 }));
    // Never answers: a request to it waits for as long as NATS lets it.
    await server.handle(DeleteBlob, () => {
      hung++;
      return new Promise<never>(() => undefined);
    });
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
    // The request reached its handler: it is waiting for the answer.
    await eventually(() => hung === 1);
    await nats.stopServer();
    const refused = await waiting;
    expect(refused).toBeInstanceOf(OciError);
    expect((refused as OciError).code).toBe('UNAVAILABLE');
    // Abandoned because the connection dropped; the end of its timeout would say only
    // "service unavailable".
    expect((refused as OciError).message).toContain('bus disconnected');
    await nats.startServer();
    // The next test starts from a connected client.
    await eventually(answers, { timeoutMs: 20_000, intervalMs: 200 });
  });

  it('fails a request at once while NATS is down, rather than after its timeout, and recovers', async () => {
    await expect(client.request(StatBlob, { repository: 'a/b', digest })).resolves.toEqual({
      digest,
      size: 1,
    });
    await nats.stopServer();
    // The client notices the lost connection within moments.
    await eventually(refusedAsDisconnected, { timeoutMs: 5_000 });
    // From then on a request is refused before it is sent, not at the end of its timeout.
    const refused = await client
      .request(StatBlob, { repository: 'a/b', digest })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OciError);
    expect((refused as OciError).code).toBe('UNAVAILABLE');
    expect((refused as OciError).message).toContain('bus disconnected');

    await nats.startServer();
    await eventually(answers, { timeoutMs: 20_000, intervalMs: 200 });
    await expect(client.request(StatBlob, { repository: 'a/b', digest })).resolves.toEqual({
      digest,
      size: 1,
    });
  });
});
