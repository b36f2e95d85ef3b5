import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BookEntry, InstanceBook } from '../src/runtimes/book.ts';
import type { ExitInfo, Instance } from '../src/runtimes/types.ts';

// The cleanup after an instance's exit, as every runtime (process, docker, swarm) runs it through the book.
describe('InstanceBook: an instance that exited and is being cleaned up', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bmms-book-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const entryOf = (book: InstanceBook<BookEntry>, id: string, serverName: string, started: boolean): BookEntry => {
    const instance: Instance = {
      id,
      serverName,
      revision: 'a'.repeat(40),
      treeSha: 'b'.repeat(40),
      socketPath: join(dir, id, 'mcp.sock'),
      pid: -1,
      startedAt: new Date(),
      sandbox: 'none',
    };
    const entry = { instance, started, ...book.newLog(join(dir, id), id, { serverName, revision: instance.revision }) };
    book.entries.set(id, entry);
    return entry;
  };
  const deferred = () => {
    let resolve = () => {};
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    return { promise, resolve };
  };
  const isPending = async (p: Promise<unknown>) => {
    let done = false;
    void p.then(() => {
      done = true;
    });
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    return !done;
  };
  const EXIT: ExitInfo = { code: 0, signal: null, expected: false };

  it('is no longer listed, but a stop (released) and settled wait until its cleanup is over', async () => {
    const book = new InstanceBook<BookEntry>({ log: () => {} });
    const exits: string[] = [];
    book.onExit((instance) => exits.push(instance.id));
    const entry = entryOf(book, 'demo-1', 'demo', true);
    entryOf(book, 'other-1', 'other', true);
    const cleanup = deferred();

    const closing = book.closing(entry, EXIT, () => cleanup.promise);
    expect(book.list().map((i) => i.id)).toEqual(['other-1']);
    const released = book.released('demo-1');
    const settled = book.settled('demo', 10_000);
    expect(await isPending(released)).toBe(true);
    expect(await isPending(settled)).toBe(true);
    // Another server's instances are not held up by it.
    await book.settled('other', 10_000);
    expect(exits).toEqual([]);

    cleanup.resolve();
    await closing;
    await released;
    await settled;
    expect(exits).toEqual(['demo-1']);
    // Once over, a later stop returns at once.
    expect(await isPending(book.released('demo-1'))).toBe(false);
  });

  it('releases a stop also when the cleanup fails, and settled counts an instance still starting', async () => {
    const book = new InstanceBook<BookEntry>({ log: () => {} });
    const entry = entryOf(book, 'demo-2', 'demo', true);
    const closing = book.closing(entry, EXIT, async () => {
      throw new Error('the engine is gone');
    });
    await expect(closing).rejects.toThrow('the engine is gone');
    expect(await isPending(book.released('demo-2'))).toBe(false);

    const starting = entryOf(book, 'demo-3', 'demo', false);
    const settled = book.settled('demo', 10_000);
    expect(await isPending(settled)).toBe(true);
    starting.started = true;
    await settled;
    // Bounded: an instance that never finishes starting holds settled no longer than its timeout.
    entryOf(book, 'demo-4', 'demo', false);
    const t0 = Date.now();
    await book.settled('demo', 100);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});
