import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { shuttingDown } from '../errors.ts';
import { silentLogger } from '../logger.ts';
import { DrainingServer } from './drain.ts';
import { errorHandler } from './middleware.ts';

/** A server whose `/slow` answers when `release()` is called; refusals rendered as the platform renders them. */
async function serverWithSlowRoute() {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started = () => {};
  const slowStarted = new Promise<void>((resolve) => {
    started = resolve;
  });
  const app = express();
  app.get('/slow', async (_req, res) => {
    started();
    await released;
    res.type('text/plain').send('done');
  });
  const refuse = express();
  refuse.disable('x-powered-by');
  refuse.use((_req, _res, next) => next(shuttingDown(5)));
  refuse.use(errorHandler(silentLogger));
  const draining = new DrainingServer(app, refuse);
  await new Promise<void>((resolve) => draining.server.listen(0, '127.0.0.1', resolve));
  const port = (draining.server.address() as AddressInfo).port;
  return { draining, port, release, slowStarted };
}

/** Sends raw HTTP/1.1 text on one connection and collects everything until the server closes it. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let got = '';
    socket.on('data', (d) => {
      got += d.toString();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', () => resolve(got));
  });
}

describe('DrainingServer', () => {
  it('lets the call in flight finish, and answers a request completed during the drain 503 shutting_down', async () => {
    const { draining, port, release, slowStarted } = await serverWithSlowRoute();
    const slow = rawExchange(port, 'GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await slowStarted;
    // A second caller whose request is on its way when the drain starts: its headers end after it.
    const late = connect(port, '127.0.0.1');
    await new Promise((resolve) => late.once('connect', resolve));
    late.write('GET /slow HTTP/1.1\r\nHost: x\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    let refusal = '';
    late.on('data', (d) => {
      refusal += d.toString();
    });
    const lateClosed = new Promise((resolve) => late.once('close', resolve));
    late.on('error', () => {});
    const drained = draining.drain(60_000);
    late.write('\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    expect(await slow).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\ndone$/);
    await lateClosed;
    expect(await drained).toEqual({ cut: 0 });
    expect(refusal).toMatch(/^HTTP\/1\.1 503 /);
    expect(refusal).toMatch(/\r\nretry-after: 5\r\n/i);
    expect(refusal).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(refusal.slice(refusal.indexOf('\r\n\r\n') + 4))).toMatchObject({
      error: { code: 'shutting_down' },
    });
    expect(refusal).not.toContain('done');
  });

  it('cuts a call that outlives the grace period and still closes', async () => {
    const { draining, port, slowStarted } = await serverWithSlowRoute();
    const exchange = rawExchange(port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await slowStarted;
    expect(await draining.drain(200)).toEqual({ cut: 1 });
    expect(await exchange).toBe('');
  });
});
