import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { it } from 'node:test';
import { config } from '../src/config.ts';
import sendWebhook from '../src/tools/send_webhook.ts';
import { call, fakeContext, parsed } from './fake-ctx.ts';

const KEY = 'test-signing-value';

it('POSTs the event as JSON, signed with HMAC-SHA256 over "<timestamp>.<body>"', async () => {
  const ctx = fakeContext({
    secrets: { [config.secretName]: KEY },
    respond: () => new Response('ok', { status: 202 }),
  });
  const result = parsed(await call(sendWebhook, { event: 'order.paid', data: { order: 42 }, id: 'delivery-1' }, ctx));
  assert.deepEqual(result, { delivered: true, id: 'delivery-1', status: 202 });
  const [sent] = ctx.requests;
  assert.ok(sent);
  assert.equal(sent.method, 'POST');
  assert.equal(sent.url.href, new URL(config.url).href);
  const body = JSON.parse(sent.body);
  assert.equal(body.event, 'order.paid');
  assert.deepEqual(body.data, { order: 42 });
  assert.equal(sent.headers.get('x-webhook-id'), 'delivery-1');
  const timestamp = sent.headers.get('x-webhook-timestamp') ?? '';
  const expected = createHmac('sha256', KEY).update(`${timestamp}.${sent.body}`).digest('hex');
  assert.equal(sent.headers.get(config.signatureHeader), `sha256=${expected}`);
});

it('reports a refused delivery with the status and the id to retry with', async () => {
  const ctx = fakeContext({
    secrets: { [config.secretName]: KEY },
    respond: () => new Response('bad signature', { status: 401 }),
  });
  await assert.rejects(
    call(sendWebhook, { event: 'ping', data: null, id: 'd-2' }, ctx),
    /HTTP 401: bad signature; retry with id "d-2"/,
  );
});

it('refuses event names with spaces or other characters', async () => {
  await assert.rejects(call(sendWebhook, { event: 'two words', data: 1 }), /invalid arguments/);
});
