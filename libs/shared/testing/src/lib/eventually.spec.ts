import { eventually } from './eventually';

describe('eventually', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('resolves at once with what a passing check returns', async () => {
    await expect(eventually(() => 'ready')).resolves.toBe('ready');
  });

  it('checks again, every interval, while the check returns false or throws', async () => {
    let calls = 0;
    const sut = eventually(
      () => {
        calls++;
        if (calls === 1) return false;
        if (calls === 2) throw new Error('not there yet');
        return calls;
      },
      { intervalMs: 100 },
    );
    await jest.advanceTimersByTimeAsync(99);
    expect(calls).toBe(1);
    await jest.advanceTimersByTimeAsync(101);
    await expect(sut).resolves.toBe(3);
  });

  it('fails after the timeout with the last error as its cause', async () => {
    const cause = new Error('row missing');
    const sut = eventually(
      () => {
        throw cause;
      },
      { timeoutMs: 1_000, intervalMs: 100 },
    );
    const failed = expect(sut).rejects.toMatchObject({
      message: expect.stringContaining('row missing') as unknown,
      cause,
    });
    await jest.advanceTimersByTimeAsync(1_000);
    await failed;
  });
});
