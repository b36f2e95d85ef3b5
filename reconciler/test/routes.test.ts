import { describe, expect, it } from 'vitest';
import { RouteTable } from '../src/routes.ts';

const target = (id: string, revision = 'r1') => ({ instanceId: id, revision, treeSha: 't', socketPath: `/s/${id}` });

describe('RouteTable', () => {
  it('switches a route atomically and hands back the previous target', () => {
    const routes = new RouteTable();
    expect(routes.set('demo', target('a'))).toBeUndefined();
    expect(routes.set('demo', target('b'))?.instanceId).toBe('a');
    expect(routes.get('demo')?.instanceId).toBe('b');
    expect(routes.acquire('demo')?.target.instanceId).toBe('b');
    expect(routes.acquire('other')).toBeUndefined();
    expect(routes.servers()).toEqual(['demo']);
  });

  it('drains the old target only once its in-flight calls finished', async () => {
    const routes = new RouteTable();
    routes.set('demo', target('a'));
    const lease = routes.acquire('demo');
    routes.set('demo', target('b'));
    let drained: boolean | undefined;
    const draining = routes.drain('a', 5000).then((d) => {
      drained = d;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(drained).toBeUndefined();
    lease?.release();
    lease?.release(); // a second release is a no-op
    await draining;
    expect(drained).toBe(true);
  });

  it('gives up draining after the timeout and says so', async () => {
    const routes = new RouteTable();
    routes.set('demo', target('a'));
    routes.acquire('demo');
    routes.set('demo', target('b'));
    expect(await routes.drain('a', 30)).toBe(false);
    expect(await routes.drain('unknown', 30)).toBe(true);
  });

  it('removes a route only while it still points at the given instance', () => {
    const routes = new RouteTable();
    routes.set('demo', target('a'));
    expect(routes.remove('demo', 'b')).toBeUndefined();
    expect(routes.get('demo')?.instanceId).toBe('a');
    expect(routes.remove('demo', 'a')?.instanceId).toBe('a');
    expect(routes.get('demo')).toBeUndefined();
  });
});
