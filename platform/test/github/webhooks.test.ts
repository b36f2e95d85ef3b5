import { createHmac } from 'node:crypto';
import { Webhooks } from '@octokit/webhooks';
import { describe, expect, it } from 'vitest';
import { type HandledEvent, WebhookReceiver } from '../../src/github/webhooks.ts';

const SECRET = 'whsec-standin-0123456789';
const signer = new Webhooks({ secret: SECRET });

function receiver() {
  const handled: { event: HandledEvent; id: string; ref: unknown }[] = [];
  const r = new WebhookReceiver({
    secret: SECRET,
    remember: 3,
    handle: async (event, payload, id) => {
      handled.push({ event, id, ref: payload.ref });
    },
  });
  return { r, handled };
}

const push = JSON.stringify({
  ref: 'refs/heads/main',
  after: 'a'.repeat(40),
  repository: { full_name: 'acme/weather' },
});

describe('GitHub webhook deliveries', () => {
  it('accepts a delivery signed with the real algorithm (HMAC-SHA256 over the raw body), once', async () => {
    const { r, handled } = receiver();
    const signature = await signer.sign(push);
    expect(signature).toBe(`sha256=${createHmac('sha256', SECRET).update(push).digest('hex')}`);
    expect(await r.receive({ id: 'd-1', name: 'push', signature, rawBody: push })).toEqual({
      status: 'accepted',
      event: 'push',
    });
    expect(handled).toEqual([{ event: 'push', id: 'd-1', ref: 'refs/heads/main' }]);
    // The same delivery again (a replay, or GitHub redelivering it): refused, the handler is not called.
    expect(await r.receive({ id: 'd-1', name: 'push', signature, rawBody: push })).toEqual({
      status: 'refused',
      reason: 'replayed',
    });
    expect(handled).toHaveLength(1);
  });

  it('refuses forged deliveries (wrong secret, a changed body, no signature) before reading them', async () => {
    const { r, handled } = receiver();
    const forged = await new Webhooks({ secret: 'not-the-secret' }).sign(push);
    expect(await r.receive({ id: 'd-2', name: 'push', signature: forged, rawBody: push })).toEqual({
      status: 'refused',
      reason: 'forged',
    });
    const signature = await signer.sign(push);
    const changed = push.replace('main', 'evil');
    expect(await r.receive({ id: 'd-3', name: 'push', signature, rawBody: changed })).toMatchObject({
      reason: 'forged',
    });
    expect(await r.receive({ id: 'd-4', name: 'push', signature: '', rawBody: push })).toMatchObject({
      reason: 'malformed',
    });
    // A forged delivery does not burn its id: the genuine one still goes through.
    expect(await r.receive({ id: 'd-2', name: 'push', signature, rawBody: push })).toMatchObject({
      status: 'accepted',
    });
    expect(handled.map((h) => h.id)).toEqual(['d-2']);
  });

  it('lets a delivery whose handling failed be delivered again', async () => {
    let fail = true;
    const r = new WebhookReceiver({
      secret: SECRET,
      handle: async () => {
        if (fail) throw new Error('database down');
      },
    });
    const signature = await signer.sign(push);
    await expect(r.receive({ id: 'f-1', name: 'push', signature, rawBody: push })).rejects.toThrow('database down');
    fail = false;
    expect(await r.receive({ id: 'f-1', name: 'push', signature, rawBody: push })).toMatchObject({
      status: 'accepted',
    });
  });

  it('ignores events it does not act on, and remembers a bounded number of delivery ids', async () => {
    const { r, handled } = receiver();
    const body = JSON.stringify({ zen: 'Keep it logically awesome.' });
    const signature = await signer.sign(body);
    expect(await r.receive({ id: 'p-1', name: 'ping', signature, rawBody: body })).toMatchObject({ status: 'ignored' });
    for (const id of ['p-2', 'p-3', 'p-4']) await r.receive({ id, name: 'ping', signature, rawBody: body });
    // p-1 fell out of the last three: it is not remembered any more.
    expect(await r.receive({ id: 'p-1', name: 'ping', signature, rawBody: body })).toMatchObject({ status: 'ignored' });
    expect(handled).toEqual([]);
  });
});
