import type { InstanceProvisioner, InstanceSetup } from '@bmms/reconciler';
import type { EgressProxy } from './proxy.ts';

/** Where an instance finds the proxy's folder inside its sandbox. */
export const EGRESS_SANDBOX_DIR = '/run/bmms-egress';
/** The socket path an instance is given in `BMMS_EGRESS_SOCKET` (sandbox path; the process runtime maps it in insecure mode). */
export const EGRESS_SANDBOX_SOCKET = `${EGRESS_SANDBOX_DIR}/egress.sock`;

/** Gives each instance whose manifest lists egress hosts its own proxy listener, bound into the sandbox. */
export function egressProvisioner(proxy: EgressProxy): InstanceProvisioner {
  return {
    async fingerprint(_server, manifest) {
      return `egress:${[...manifest.egress].sort().join(',')}`;
    },
    async setup(server, manifest, instanceId): Promise<InstanceSetup> {
      // No allowlist, no proxy: ctx.fetch refuses everything before it would need one.
      if (manifest.egress.length === 0) return { env: {}, release: async () => {} };
      const { dir } = await proxy.open(instanceId, { allow: manifest.egress, server: server.name });
      return {
        env: { BMMS_EGRESS_SOCKET: EGRESS_SANDBOX_SOCKET },
        binds: [{ host: dir, sandbox: EGRESS_SANDBOX_DIR }],
        release: () => proxy.close(instanceId),
      };
    },
  };
}
