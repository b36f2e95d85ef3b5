import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { config } from '../config.ts';
import { hmacSha256Hex } from '../sign.ts';

export default defineTool({
  name: 'send_webhook',
  input: {
    event: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/),
    data: z.json(),
    id: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,100}$/)
      .optional(),
  },
  async handler({ event, data, id }, ctx) {
    const deliveryId = id ?? crypto.randomUUID();
    const timestamp = String(Math.floor(Date.now() / 1000));
    const body = JSON.stringify({ id: deliveryId, event, createdAt: new Date().toISOString(), data });
    // Receivers recompute HMAC-SHA256("<timestamp>.<body>") with the shared key and compare; the
    // timestamp lets them refuse replays, the id lets them drop duplicates of a retried delivery.
    const signature = await hmacSha256Hex(ctx.secret(config.secretName), `${timestamp}.${body}`);
    const response = await ctx.fetch(config.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-webhook-id': deliveryId,
        'x-webhook-timestamp': timestamp,
        [config.signatureHeader]: `sha256=${signature}`,
      },
      body,
    });
    const answer = (await response.text()).slice(0, 300);
    if (!response.ok) {
      throw new Error(
        `the receiver answered HTTP ${response.status}${answer ? `: ${answer}` : ''}; retry with id "${deliveryId}"`,
      );
    }
    ctx.log('info', 'webhook delivered', { event, status: response.status });
    return { delivered: true, id: deliveryId, status: response.status };
  },
});
