import type { RunningBerth } from '@berth/testing';
import type { Credentials } from './oci-client';

/** The value of an `Authorization: Basic` header. */
export function basicAuth(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/** Calls the management API as someone (the admin unless told), with a JSON body if given. */
export function api(
  berth: RunningBerth,
  method: string,
  path: string,
  options: { body?: unknown; as?: Credentials | null; headers?: Record<string, string> } = {},
): Promise<Response> {
  const as = options.as === undefined ? berth.admin : options.as;
  return fetch(`${berth.authUrl}${path}`, {
    method,
    headers: {
      ...(as !== null && { authorization: basicAuth(as) }),
      ...(options.body !== undefined && { 'content-type': 'application/json' }),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
}

/** Calls the management API and returns its JSON answer, failing on any status but `status`. */
export async function apiJson<T>(
  berth: RunningBerth,
  method: string,
  path: string,
  status: number,
  options: { body?: unknown; as?: Credentials | null } = {},
): Promise<T> {
  const response = await api(berth, method, path, options);
  const text = await response.text();
  if (response.status !== status)
    throw new Error(`${method} ${path}: expected ${status}, got ${response.status}: ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/**
 * What the e2e tests run as, since Berth is secure by default: the projects `e2e` and `library`
 * (created by the admin) and a robot with pull, push and delete in both. Returns the robot's
 * login (`robot$<name>`) and secret.
 */
export async function provisionRobot(berth: RunningBerth, name = 'e2e'): Promise<Credentials> {
  for (const project of ['e2e', 'library']) {
    const response = await api(berth, 'POST', '/api/v1/projects', { body: { name: project, public: false } });
    if (response.status !== 201 && response.status !== 409)
      throw new Error(`creating project ${project}: ${response.status} ${await response.text()}`);
  }
  const robot = await apiJson<{ username: string; secret: string }>(berth, 'POST', '/api/v1/robots', 201, {
    body: {
      name,
      permissions: ['e2e', 'library'].map((project) => ({ project, actions: ['pull', 'push', 'delete'] })),
    },
  });
  return { username: robot.username, password: robot.secret };
}
