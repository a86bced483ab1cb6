import { randomBytes, randomUUID } from 'node:crypto';
import { startBerth, type RunningBerth } from '@berth/testing';
import { connect, type NatsConnection } from 'nats';
import { provisionRobot } from './support/auth';
import { OciClient, errorCodes, repoName, sha256 } from './support/oci-client';
import { SHAPES } from './support/shapes';

/** Sends a streamed chunk, as docker does: no Content-Range, no Content-Length. */
function streamedChunk(
  client: OciClient,
  location: string,
  bytes: Buffer,
  method = 'PATCH',
): Promise<Response> {
  return client.request(method, location, {
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  });
}

describe.each(SHAPES)('uploads: $label', (shape) => {
  let berth: RunningBerth;
  let sut: OciClient;

  beforeAll(async () => {
    berth = await startBerth(shape);
    sut = new OciClient(berth.url, await provisionRobot(berth));
  });

  afterAll(async () => {
    await berth.stop();
  });

  it('takes streamed chunks that do not say where they start, then a last chunk with the PUT', async () => {
    const name = repoName();
    const bytes = randomBytes(300_000);
    const started = await sut.request('POST', `/v2/${name}/blobs/uploads/`);
    expect(started.status).toBe(202);
    let location = sut.location(started);
    for (const [from, to] of [
      [0, 100_000],
      [100_000, 250_000],
    ]) {
      const patched = await streamedChunk(sut, location, bytes.subarray(from, to));
      expect(patched.status).toBe(202);
      expect(patched.headers.get('range')).toBe(`0-${(to ?? 0) - 1}`);
      location = sut.location(patched);
    }
    const url = new URL(location);
    url.searchParams.set('digest', sha256(bytes));
    const done = await streamedChunk(sut, url.toString(), bytes.subarray(250_000), 'PUT');
    expect(done.status).toBe(201);
    expect(await sut.pulledDigest(name, sha256(bytes))).toBe(sha256(bytes));
  });

  it('refuses a streamed chunk for an upload that does not exist, and a digest its bytes do not have', async () => {
    const name = repoName();
    const unknown = await streamedChunk(
      sut,
      `${berth.url}/v2/${name}/blobs/uploads/${randomUUID()}`,
      randomBytes(10),
    );
    expect(unknown.status).toBe(404);
    expect(await errorCodes(unknown)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
    const started = await sut.request('POST', `/v2/${name}/blobs/uploads/`);
    const patched = await streamedChunk(sut, sut.location(started), randomBytes(1000));
    const url = new URL(sut.location(patched));
    url.searchParams.set('digest', sha256(randomBytes(1000)));
    const done = await sut.request('PUT', url.toString());
    expect(done.status).toBe(400);
    expect(await errorCodes(done)).toEqual(['DIGEST_INVALID']);
  });

  if (shape.shape === 'distributed') {
    it('needs three bus round trips for a docker-style blob push: start, append, complete', async () => {
      const nats = berth.nats;
      if (nats === null) throw new Error('the distributed shape has a NATS bus');
      const name = repoName();
      // The token and the project's existence first, so that only the push itself is counted.
      await (await sut.request('POST', `/v2/${name}/blobs/uploads/`)).arrayBuffer();
      const nc: NatsConnection = await connect({ servers: nats.url });
      const subjects: string[] = [];
      const prefix = `${nats.namespace}.berth.rpc.`;
      const watch = nc.subscribe(`${prefix}>`, {
        callback: (_error, msg) => subjects.push(msg.subject.slice(prefix.length)),
      });
      await nc.flush();
      try {
        const bytes = randomBytes(200_000);
        const started = await sut.request('POST', `/v2/${name}/blobs/uploads/`);
        const patched = await streamedChunk(sut, sut.location(started), bytes);
        const url = new URL(sut.location(patched));
        url.searchParams.set('digest', sha256(bytes));
        expect((await sut.request('PUT', url.toString())).status).toBe(201);
        // Every request went out before its answer came back; one more flush sees them all here.
        await nc.flush();
        expect(subjects).toEqual([
          'blobstore.upload.start.v1',
          'blobstore.upload.append.v2',
          'blobstore.upload.complete.v2',
        ]);
      } finally {
        watch.unsubscribe();
        await nc.close();
      }
    });
  }
});
