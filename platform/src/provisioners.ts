import type { InstanceProvisioner, InstanceSetup } from '@bmms/reconciler';

/**
 * One provisioner made of several (secrets, egress, …): env and binds merged in order, fingerprints
 * joined (a change in any rolls the server), releases all run. A failing setup releases what the
 * earlier ones set up.
 */
export function combineProvisioners(...parts: InstanceProvisioner[]): InstanceProvisioner {
  return {
    async fingerprint(server, manifest) {
      const prints = await Promise.all(parts.map((p) => p.fingerprint(server, manifest)));
      return prints.filter((f) => f !== '').join('|');
    },
    async setup(server, manifest, instanceId) {
      const done: InstanceSetup[] = [];
      try {
        for (const p of parts) done.push(await p.setup(server, manifest, instanceId));
      } catch (err) {
        await Promise.allSettled(done.map((s) => s.release()));
        throw err;
      }
      const binds = done.flatMap((s) => s.binds ?? []);
      return {
        env: Object.assign({}, ...done.map((s) => s.env)) as Record<string, string>,
        ...(binds.length > 0 ? { binds } : {}),
        async release() {
          const results = await Promise.allSettled(done.map((s) => s.release()));
          const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
          if (failed) throw failed.reason;
        },
      };
    },
  };
}
