import { z } from 'zod';
import { SECRET_NAME } from '../spec.ts';
import { type StaticBuild, staticTemplate, WEB_PORT_MESSAGE, webPort } from './define.ts';

const options = z.strictObject({
  url: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .default('https://hooks.example.com/events')
    .refine((url) => new URL(url).hash === '', 'must not have a fragment')
    .refine((url) => new URL(url).username === '' && new URL(url).password === '', 'must not hold credentials')
    .refine(webPort, WEB_PORT_MESSAGE),
  secretName: z.string().regex(SECRET_NAME, 'must be UPPER_SNAKE_CASE').default('WEBHOOK_SECRET'),
  signatureHeader: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be an HTTP header name')
    .default('X-Signature-256'),
});

/** `webhook`: delivers events to one receiver as signed JSON POSTs. */
export const webhookTemplate = staticTemplate({
  name: 'webhook',
  title: 'Webhook sender',
  description: 'Delivers events to one configured URL as JSON POSTs signed with HMAC-SHA256.',
  options,
  build: (o): StaticBuild => ({
    description: `Delivers events as signed JSON to ${new URL(o.url).origin}.`,
    tools: [
      {
        name: 'send_webhook',
        title: 'Deliver an event',
        description: `Delivers an event (a name such as order.paid plus JSON data) to the receiver at ${new URL(o.url).host} as a signed JSON POST, and returns the delivery id and HTTP status. Pass the same id again to retry a delivery without duplicates.`,
        inputSchema: {
          type: 'object',
          properties: {
            event: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,100}$', description: 'Event name, e.g. order.paid.' },
            data: { description: 'The event payload (any JSON).' },
            id: {
              type: 'string',
              pattern: '^[A-Za-z0-9_.:-]{1,100}$',
              description: 'Delivery id; reuse it to retry. Default: a new UUID.',
            },
          },
          required: ['event', 'data'],
        },
        annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
      },
    ],
    secrets: [o.secretName],
    egress: [new URL(o.url).host],
    config: { url: o.url, secretName: o.secretName, signatureHeader: o.signatureHeader },
    notes: `Set the signing key: \`PUT /api/v1/servers/<name>/secrets/${o.secretName}\`. Each POST carries \`x-webhook-id\`, \`x-webhook-timestamp\` and \`${o.signatureHeader}: sha256=<hex>\`, the HMAC-SHA256 of \`<timestamp>.<body>\` under that key: the receiver recomputes it, compares in constant time, and refuses old timestamps.`,
  }),
});
