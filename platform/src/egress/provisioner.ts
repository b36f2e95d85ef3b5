import type { InstanceProvisioner, InstanceSetup } from '@bmms/reconciler';
import type { EgressProxy } from './proxy.ts';

export { EGRESS_SANDBOX_DIR, EGRESS_SANDBOX_SOCKET } from './proxy.ts';

/** Gives each instance whose manifest lists egress hosts its own way to the proxy (a bound socket, or a token). */
export function egressProvisioner(proxy: EgressProxy): InstanceProvisioner {
  return {
    async fingerprint(_server, manifest) {
      return `egress:${[...manifest.egress].sort().join(',')}`;
    },
    async setup(server, manifest, instanceId): Promise<InstanceSetup> {
      // No allowlist, no proxy: ctx.fetch refuses everything before it would need one.
      if (manifest.egress.length === 0) return { env: {}, release: async () => {} };
      const access = await proxy.access(instanceId, { allow: manifest.egress, server: server.name });
      return {
        env: access.env,
        ...(access.binds.length > 0 ? { binds: access.binds } : {}),
        release: () => proxy.close(instanceId),
      };
    },
  };
}
