import type { BasicCredentials } from '../config/bench.config';
import { ManagementApi } from './management-api';
import { RegistryStartError } from './registry-start.error';

/** A robot the bench created; `revoke` deletes it (best effort, never throws). */
export interface RobotAccount {
  readonly credentials: BasicCredentials;
  revoke(): Promise<void>;
}

/** A robot outlives an interrupted bench on an external registry by at most this long. */
const ROBOT_LIFETIME_MS = 24 * 3600 * 1000;

/** Creates the private project `project` through `api`, unless it exists. */
export async function provisionProject(api: ManagementApi, project: string): Promise<void> {
  const created = await api.call('POST', '/api/v1/projects', { name: project, public: false });
  if (created.status !== 201 && created.status !== 409) {
    throw new RegistryStartError(
      `POST /api/v1/projects: status ${created.status}: ${created.text.slice(0, 500)}`,
    );
  }
}

/**
 * Creates the private project `project` (unless it exists) and a robot `name` that may pull and
 * push in it, through Berth's management API at `apiUrl` as `admin`; the bench then logs in as
 * the robot (`robot$<name>`), as CI does, not as the admin.
 */
export async function provisionRobot(
  apiUrl: string,
  admin: BasicCredentials,
  project: string,
  name: string,
): Promise<RobotAccount> {
  const api = new ManagementApi(apiUrl, admin);
  await provisionProject(api, project);
  const robot = await api.call('POST', '/api/v1/robots', {
    name,
    description: 'npm run bench (token auth on); deleted when the bench ends',
    expiresAt: new Date(Date.now() + ROBOT_LIFETIME_MS).toISOString(),
    permissions: [{ project, actions: ['pull', 'push'] }],
  });
  if (robot.status !== 201) {
    throw new RegistryStartError(`POST /api/v1/robots: status ${robot.status}: ${robot.text.slice(0, 500)}`);
  }
  const answer = JSON.parse(robot.text) as { username?: unknown; secret?: unknown };
  if (typeof answer.username !== 'string' || typeof answer.secret !== 'string') {
    throw new RegistryStartError('POST /api/v1/robots: the answer has no username and secret');
  }
  return {
    credentials: { username: answer.username, password: answer.secret },
    revoke: async () => {
      await api.call('DELETE', `/api/v1/robots/${encodeURIComponent(name)}`).catch(() => null);
    },
  };
}
