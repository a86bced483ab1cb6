import type { OnModuleInit } from '@nestjs/common';
import type { BroadcastContract, RpcContract } from '@berth/contracts';
import type { Bus } from './bus';

/** What one decorated method serves. */
type Route =
  | {
      readonly kind: 'rpc';
      readonly contract: RpcContract<unknown, unknown>;
      readonly method: string | symbol;
    }
  | {
      readonly kind: 'broadcast';
      readonly contract: BroadcastContract<unknown>;
      readonly method: string | symbol;
    };

const routes = new WeakMap<object, Route[]>();

function addRoute(prototype: object, route: Route): void {
  const own = routes.get(prototype) ?? [];
  own.push(route);
  routes.set(prototype, own);
}

/** The routes of a controller's class and of the classes it extends, base first. */
function routesOf(instance: object): Route[] {
  const chain: Route[][] = [];
  for (
    let proto = Object.getPrototypeOf(instance) as object | null;
    proto;
    proto = Object.getPrototypeOf(proto) as object | null
  )
    chain.unshift(routes.get(proto) ?? []);
  return chain.flat();
}

/**
 * Serves a request subject with the decorated method; the method's type must be the contract's
 * (request in, reply out), so a contract change that the handler does not follow fails to compile.
 */
export function Rpc<Req, Res>(contract: RpcContract<Req, Res>) {
  return <T extends (request: Req) => Promise<Res>>(
    prototype: object,
    method: string | symbol,
    _descriptor: TypedPropertyDescriptor<T>,
  ): void => {
    addRoute(prototype, { kind: 'rpc', contract, method });
  };
}

/** Listens to a broadcast (every instance gets it, best effort) with the decorated method. */
export function Broadcast<P>(contract: BroadcastContract<P>) {
  return <T extends (payload: P) => void>(
    prototype: object,
    method: string | symbol,
    _descriptor: TypedPropertyDescriptor<T>,
  ): void => {
    addRoute(prototype, { kind: 'broadcast', contract, method });
  };
}

/**
 * A service's face on the bus: one small class, one decorated method per subject, each a line
 * that hands the request to the service. When its module starts, every subject is served on the
 * process's bus (NATS or in-process), before any module's bootstrap hook runs, so that nothing is
 * published before its subscribers are there.
 */
export abstract class BusController implements OnModuleInit {
  constructor(private readonly bus: Bus) {}

  /** Serves every subject; a controller whose answers need something loaded first calls it itself. */
  onModuleInit(): Promise<void> {
    return this.serve();
  }

  /** Serves every decorated subject on the bus. */
  async serve(): Promise<void> {
    for (const route of routesOf(this)) {
      const method = (this as unknown as Record<string | symbol, (payload: unknown) => unknown>)[
        route.method
      ];
      if (typeof method !== 'function')
        throw new Error(`bus controller has no method ${String(route.method)}`);
      const handler = method.bind(this);
      if (route.kind === 'rpc')
        await this.bus.handle(route.contract, (request) => handler(request) as Promise<unknown>);
      else
        await this.bus.onBroadcast(route.contract, (payload) => {
          handler(payload);
        });
    }
  }
}
