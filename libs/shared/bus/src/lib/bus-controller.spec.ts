import { broadcast, rpc } from '@berth/contracts';
import { OciError } from '@berth/oci';
import { z } from 'zod';
import { Broadcast, BusController, Rpc } from './bus-controller';
import { InProcessBus } from './in-process.bus';

const Double = rpc('berth.rpc.test.double.v1', z.object({ n: z.number() }), z.object({ n: z.number() }));
const Refuse = rpc('berth.rpc.test.refuse.v1', z.object({}), z.object({}));
const Noted = broadcast('berth.cast.test.noted.v1', z.object({ text: z.string() }));

class BaseController extends BusController {
  readonly noted: string[] = [];

  @Broadcast(Noted)
  note({ text }: { text: string }): void {
    this.noted.push(text);
  }
}

class TestController extends BaseController {
  @Rpc(Double)
  double({ n }: { n: number }) {
    return Promise.resolve({ n: n * 2 });
  }

  @Rpc(Refuse)
  refuse(_request: Record<string, never>): Promise<Record<string, never>> {
    return Promise.reject(new OciError('DENIED', 'no'));
  }
}

describe('BusController', () => {
  it("serves its decorated methods and its base class's on the bus once its module starts", async () => {
    const bus = new InProcessBus();
    const controller = new TestController(bus);
    await controller.onModuleInit();
    await expect(bus.request(Double, { n: 21 })).resolves.toEqual({ n: 42 });
    await expect(bus.request(Refuse, {})).rejects.toMatchObject({ code: 'DENIED' });
    await bus.broadcast(Noted, { text: 'hello' });
    expect(controller.noted).toEqual(['hello']);
    await bus.close();
  });

  it('serves nothing before it is told to', async () => {
    const bus = new InProcessBus();
    new TestController(bus);
    await expect(bus.request(Double, { n: 1 })).rejects.toMatchObject({
      message: expect.stringContaining('no handler') as unknown,
    });
    await bus.close();
  });
});
