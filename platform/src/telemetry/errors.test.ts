import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler, requestId } from '../http/middleware.ts';
import { silentLogger } from '../logger.ts';
import { startSentry, trackingErrors } from './errors.ts';

describe('error tracking (Sentry)', () => {
  const envelopes: string[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url?.startsWith('/api/1/envelope/')) envelopes.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200).end('{}');
    });
  });
  let port = 0;
  beforeAll(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    port = (receiver.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

  it('sends an unexpected error of the error middleware to Sentry, without headers, cookies or tokens', async () => {
    const tracker = await startSentry(`http://publickey@127.0.0.1:${port}/1`, silentLogger);
    const app = express();
    app.use(requestId());
    app.get('/boom', () => {
      throw new Error('the database went away');
    });
    app.use(errorHandler(trackingErrors(silentLogger, tracker)));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/boom?token=query-secret`, {
      headers: { authorization: 'Bearer bmms_secret_token', cookie: 'bmms_session=cookie-secret' },
    });
    expect(res.status).toBe(500);
    const requestIdSent = res.headers.get('x-request-id');
    await tracker.close();
    server.close();

    expect(envelopes).toHaveLength(1);
    const envelope = envelopes[0] as string;
    expect(envelope).toContain('the database went away');
    expect(envelope).toContain(String(requestIdSent));
    for (const secret of ['bmms_secret_token', 'cookie-secret', 'query-secret', 'authorization']) {
      expect(envelope).not.toContain(secret);
    }
  });

  it('sends nothing for errors without an Error, nor for warnings', async () => {
    const before = envelopes.length;
    const tracker = await startSentry(`http://publickey@127.0.0.1:${port}/1`, silentLogger);
    const log = trackingErrors(silentLogger, tracker).child({ component: 'checks' });
    log.warn('deploy failed', { err: new Error('a warning') });
    log.error('no error object', { reason: 'x' });
    log.error('check suite crashed', { err: new Error('crashed job'), server: 'demo' });
    await tracker.close();
    expect(envelopes.length).toBe(before + 1);
    const envelope = envelopes.at(-1) as string;
    expect(envelope).toContain('crashed job');
    expect(envelope).toContain('"component":"checks"');
  });
});
