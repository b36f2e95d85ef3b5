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

  it('tells its listeners of every route set or removed, and of nothing else', () => {
    const routes = new RouteTable();
    const heard: string[] = [];
    const stop = routes.onChange((server, t) => heard.push(`${server}:${t?.instanceId ?? '-'}`));
    routes.set('demo', target('a'));
    routes.set('demo', target('b'));
    routes.remove('demo', 'a'); // not the current instance: nothing changed
    routes.remove('demo');
    routes.remove('demo'); // no route any more
    stop();
    routes.set('demo', target('c'));
    expect(heard).toEqual(['demo:a', 'demo:b', 'demo:-']);
  });

  it('counts calls made elsewhere as use, and lists the servers used since a time', async () => {
    const routes = new RouteTable();
    routes.set('busy', target('a'));
    routes.set('quiet', target('b'));
    await new Promise((r) => setTimeout(r, 30));
    const since = Date.now();
    expect(routes.usedSince(since)).toEqual([]);
    routes.acquire('busy'); // in flight
    routes.touch('quiet', since - 1000); // older than its last use: ignored
    expect(routes.usedSince(since)).toEqual(['busy']);
    expect(routes.idleFor('quiet')).toBeGreaterThanOrEqual(25);
    routes.touch('quiet');
    expect(routes.idleFor('quiet')).toBeLessThan(25);
    routes.touch('nowhere'); // no route: nothing to count
    expect(routes.servers()).toEqual(['busy', 'quiet']);
  });
});
