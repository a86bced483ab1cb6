import { BatchGatherer } from './batch-gatherer';

/** A handler that records its batches and finishes each one when told. */
function recorder(): {
  readonly batches: string[][];
  readonly finish: () => void;
  readonly handle: (items: readonly string[]) => Promise<void>;
} {
  const batches: string[][] = [];
  let release: (() => void) | null = null;
  return {
    batches,
    finish: () => {
      release?.();
      release = null;
    },
    handle: (items) => {
      batches.push([...items]);
      return new Promise((resolve) => {
        release = resolve;
      });
    },
  };
}

// The window is a timer: fake timers let each test say exactly how much time passes.
beforeEach(() => {
  jest.useFakeTimers();
});

afterEach(() => {
  jest.useRealTimers();
});

/** Lets `ms` of fake time pass, running the timers due and the promise callbacks they start. */
const tick = (ms: number): Promise<void> => jest.advanceTimersByTimeAsync(ms);

describe('BatchGatherer', () => {
  it('hands over what arrives within the window as one batch, in order', async () => {
    const { batches, finish, handle } = recorder();
    const sut = new BatchGatherer(20, handle);
    const done = [sut.add('a'), sut.add('b')];
    await tick(5);
    done.push(sut.add('c'));
    await tick(14);
    expect(batches).toEqual([]);
    await tick(1);
    expect(batches).toEqual([['a', 'b', 'c']]);
    finish();
    await Promise.all(done);
  });

  it('gathers what arrives while a batch is handled into the next, handled once that one is done', async () => {
    const { batches, finish, handle } = recorder();
    const sut = new BatchGatherer(5, handle);
    let firstDone = false;
    void sut.add('a').then(() => {
      firstDone = true;
    });
    await tick(5);
    const later = [sut.add('b'), sut.add('c')];
    // However long the first batch takes, nothing else starts, and its item is not done.
    await tick(60_000);
    expect(batches).toEqual([['a']]);
    expect(firstDone).toBe(false);
    finish();
    await tick(0);
    expect(firstDone).toBe(true);
    expect(batches).toEqual([['a'], ['b', 'c']]);
    finish();
    await Promise.all(later);
  });

  it('settles an item whose batch handler rejected, and goes on with the next batch', async () => {
    const batches: string[][] = [];
    const sut = new BatchGatherer<string>(1, (items) => {
      batches.push([...items]);
      return batches.length === 1 ? Promise.reject(new Error('down')) : Promise.resolve();
    });
    const first = sut.add('a');
    await tick(1);
    await first;
    const second = sut.add('b');
    await tick(1);
    await second;
    expect(batches).toEqual([['a'], ['b']]);
  });
});
