import type { BasicCredentials } from '../config/bench.config';

const API_TIMEOUT_MS = 30_000;

/** An answer of the management API, read whole. */
export interface ApiAnswer {
  readonly status: number;
  readonly text: string;
}

/**
 * Berth's management API (`/api/v1/…`) at `apiUrl`, called as `admin` with HTTP Basic, as an
 * operator's script does. The bench only sets things up through it; nothing here is timed.
 */
export class ManagementApi {
  private readonly authorization: string;

  constructor(
    /** Base URL without a trailing slash. */
    readonly apiUrl: string,
    admin: BasicCredentials,
  ) {
    this.authorization = `Basic ${Buffer.from(`${admin.username}:${admin.password}`).toString('base64')}`;
  }

  /** Sends `body` as JSON (when given) and reads the whole answer; rejects only when nothing answered. */
  async call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<ApiAnswer> {
    const response = await fetch(`${this.apiUrl}${path}`, {
      method,
      headers: {
        authorization: this.authorization,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(API_TIMEOUT_MS),
    });
    return { status: response.status, text: await response.text() };
  }
}
