import type { InstanceProvisioner } from '@bmms/reconciler';
import type { Manifest } from '@bmms/runner-template';
import { describe, expect, it } from 'vitest';
import { combineProvisioners } from './provisioners.ts';

const server = { id: '00000000-0000-0000-0000-000000000001', name: 'demo' };
const manifest = { secrets: [] } as unknown as Manifest;

/** A provisioner giving fixed env/binds and recording its releases in `released`. */
function fixed(tag: string, released: string[], print = tag, fail = false): InstanceProvisioner {
  return {
    fingerprint: async () => print,
    async setup() {
      if (fail) throw new Error(`${tag} failed`);
      return {
        env: { [`FROM_${tag}`]: tag, SHARED: tag },
        binds: [{ host: `/host/${tag}`, sandbox: `/run/${tag}` }],
        release: async () => {
          released.push(tag);
        },
      };
    },
  };
}

describe('combineProvisioners', () => {
  it('merges env (later wins), binds and fingerprints, and releases every part', async () => {
    const released: string[] = [];
    const combined = combineProvisioners(fixed('A', released), fixed('B', released), fixed('C', released, ''));
    expect(await combined.fingerprint(server, manifest)).toBe('A|B');
    const setup = await combined.setup(server, manifest, 'demo-1');
    expect(setup.env).toEqual({ FROM_A: 'A', FROM_B: 'B', FROM_C: 'C', SHARED: 'C' });
    expect(setup.binds?.map((b) => b.sandbox)).toEqual(['/run/A', '/run/B', '/run/C']);
    await setup.release();
    expect(released.sort()).toEqual(['A', 'B', 'C']);
  });

  it('releases what earlier parts set up when a later one fails', async () => {
    const released: string[] = [];
    const combined = combineProvisioners(fixed('A', released), fixed('B', released, 'B', true));
    await expect(combined.setup(server, manifest, 'demo-2')).rejects.toThrow('B failed');
    expect(released).toEqual(['A']);
  });
});
