import { parseJson } from '../oci-layout';
import { run, type RunOutput } from './command';

/**
 * skopeo against a plain-HTTP registry: every registry side is `tls-verify=false`, and the
 * signature policy is skipped so that the machine's `/etc/containers/policy.json` does not matter.
 */
export const skopeo = {
  /** `skopeo copy <source> <destination>` with extra flags (e.g. `--all`). */
  copy(source: string, destination: string, flags: readonly string[] = []): Promise<RunOutput> {
    return run('skopeo', [
      '--insecure-policy',
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      ...flags,
      source,
      destination,
    ]);
  },

  /** The exact bytes of a manifest as the registry serves it. */
  async inspectRaw(reference: string): Promise<Buffer> {
    return (await run('skopeo', ['inspect', '--raw', '--tls-verify=false', reference])).bytes;
  },

  /** The tags of a repository. */
  async listTags(repository: string): Promise<string[]> {
    const output = await run('skopeo', ['list-tags', '--tls-verify=false', repository]);
    return [...((parseJson(output.stdout) as { Tags: string[] | null }).Tags ?? [])].sort();
  },

  /** Deletes the manifest a reference resolves to. */
  delete(reference: string): Promise<RunOutput> {
    return run('skopeo', ['delete', '--tls-verify=false', reference]);
  },
};
