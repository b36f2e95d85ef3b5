import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstanceBook } from '../src/runtimes/book.ts';
import type { InstanceLine } from '../src/runtimes/types.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bmms-log-sink-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Waits for the stream's end to be read. */
const ended = (stream: PassThrough) => new Promise<void>((resolve) => stream.on('end', () => setImmediate(resolve)));

describe('the line sink of a runtime', () => {
  it('hears each kept line with its stream and instance, and a flood as one "N lines dropped" summary', async () => {
    const heard: InstanceLine[] = [];
    const book = new InstanceBook({
      log: () => {},
      lineSink: (line) => heard.push(line),
      logBounds: { linesPerSecond: 1, burstSeconds: 3 },
    });
    const { capture, lines } = book.newLog(dir, 'weather-1', { serverName: 'weather', revision: 'abc', preview: 4 });
    const out = new PassThrough();
    const err = new PassThrough();
    capture.follow(out, 'stdout');
    capture.follow(err, 'stderr');
    err.write('first problem\n');
    out.write(`${Array.from({ length: 1236 }, (_, i) => `line ${i}`).join('\n')}\n`);
    out.end();
    err.end();
    await Promise.all([ended(out), ended(err)]);
    capture.flush();

    const tag = { instanceId: 'weather-1', serverName: 'weather', revision: 'abc', preview: 4 };
    expect(heard[0]).toEqual({ ...tag, stream: 'stderr', source: 'output', text: 'first problem' });
    expect(heard.slice(1, 3)).toEqual([
      { ...tag, stream: 'stdout', source: 'output', text: 'line 0' },
      { ...tag, stream: 'stdout', source: 'output', text: 'line 1' },
    ]);
    const summary = heard.find((l) => l.source === 'dropped');
    expect(summary).toMatchObject({ ...tag, stream: null, dropped: 1234 });
    expect(summary?.text).toMatch(/^\[bmms\] 1,234 lines \(\d+ bytes\) dropped/);
    // The sink hears exactly what the instance's own log keeps.
    expect(heard.map((l) => l.text)).toEqual(lines.tail());
  });

  it('hears the platform notes of an instance (an OOM kill), and nothing without a sink', () => {
    const heard: InstanceLine[] = [];
    const book = new InstanceBook({ log: () => {}, lineSink: (line) => heard.push(line) });
    const { capture } = book.newLog(dir, 'weather-2', { serverName: 'weather', revision: 'abc' });
    capture.note('killed: out of memory');
    expect(heard).toEqual([
      {
        instanceId: 'weather-2',
        serverName: 'weather',
        revision: 'abc',
        preview: undefined,
        stream: null,
        source: 'note',
        text: 'killed: out of memory',
      },
    ]);
    const silent = new InstanceBook({ log: () => {} }).newLog(dir, 'weather-3', {
      serverName: 'weather',
      revision: 'a',
    });
    expect(() => silent.capture.note('nobody hears this')).not.toThrow();
  });
});
