import type { FastifyRequest } from 'fastify';
import { Strategy } from 'passport-strategy';
import { parseAuthorization } from './http';
import type { Identity } from './model';

/**
 * Passport's verify callback: an error that ends the request (a refusal with its problem), or the
 * identity proven, or `false` when the credentials prove nothing.
 */
export type Verified = (error: unknown, identity?: Identity | false | null) => void;

/**
 * Passport strategies for Berth's HTTP edge, for `PassportStrategy` of `@nestjs/passport` to wrap:
 * each reads its credentials and hands them to the verify callback, whose answer ends the attempt.
 * A request without this strategy's credentials fails the strategy, so that Passport tries the
 * next one. `@nestjs/passport` hands them the request of the HTTP adapter, Fastify's in Berth.
 */
abstract class HttpStrategy extends Strategy {
  /** Ends the attempt with the verify callback's answer; an error reaches the guard as an `Error`. */
  protected finish(error: unknown, identity: Identity | false | null | undefined): void {
    if (error instanceof Error) this.error(error);
    else if (error !== null && error !== undefined)
      this.error(new Error('a Passport strategy failed', { cause: error }));
    else if (identity) this.success(identity);
    else this.fail(401);
  }
}

/**
 * HTTP Basic (RFC 7617): the username and password of an `Authorization: Basic` header, with
 * Berth's parser, which keeps a colon in the password (passport-http's cuts the password at it).
 */
export class BasicStrategy extends HttpStrategy {
  constructor(
    private readonly verify: (
      request: FastifyRequest,
      username: string,
      password: string,
      done: Verified,
    ) => void,
  ) {
    super();
  }

  override authenticate(request: unknown): void {
    const fastifyRequest = request as FastifyRequest;
    const presented = parseAuthorization(fastifyRequest.headers.authorization);
    if (presented.kind !== 'basic') {
      this.fail(401);
      return;
    }
    this.verify(fastifyRequest, presented.username, presented.password, (error, identity) => {
      this.finish(error, identity);
    });
  }
}

/** A bearer token (RFC 6750) of an `Authorization: Bearer` header. */
export class BearerStrategy extends HttpStrategy {
  constructor(private readonly verify: (request: FastifyRequest, token: string, done: Verified) => void) {
    super();
  }

  override authenticate(request: unknown): void {
    const fastifyRequest = request as FastifyRequest;
    const presented = parseAuthorization(fastifyRequest.headers.authorization);
    if (presented.kind !== 'bearer') {
      this.fail(401);
      return;
    }
    this.verify(fastifyRequest, presented.token, (error, identity) => {
      this.finish(error, identity);
    });
  }
}

/** A strategy whose verify callback reads the whole request, as a login's callback does. */
export class RequestStrategy extends HttpStrategy {
  constructor(private readonly verify: (request: FastifyRequest, done: Verified) => void) {
    super();
  }

  override authenticate(request: unknown): void {
    this.verify(request as FastifyRequest, (error, identity) => {
      this.finish(error, identity);
    });
  }
}
