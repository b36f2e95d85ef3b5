import type { InstanceProvisioner } from '@bmms/reconciler';
import type { SecretStore } from './store.ts';

/** Environment prefix the runtime's `ctx.secret(NAME)` reads. */
export const SECRET_ENV_PREFIX = 'BMMS_SECRET_';

/**
 * Gives a production instance `BMMS_SECRET_<NAME>` for each secret its manifest declares (and only
 * those); the fingerprint covers the declared ones, so setting or deleting one rolls the server.
 */
export function secretsProvisioner(store: SecretStore): InstanceProvisioner {
  return {
    fingerprint: (server, manifest) => store.fingerprint(server.id, manifest.secrets),
    async setup(server, manifest) {
      const values = manifest.secrets.length > 0 ? await store.values(server.id, manifest.secrets) : {};
      const env: Record<string, string> = {};
      for (const [name, value] of Object.entries(values)) env[`${SECRET_ENV_PREFIX}${name}`] = value;
      return { env, release: async () => {} };
    },
  };
}
