import type { AddressInfo } from 'node:net';
import type { PrismaClient } from '@bmms/prisma';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { errorHandler } from '../http/middleware.ts';
import { silentLogger } from '../logger.ts';
import { publicTemplatesRouter } from './templates.ts';

describe('the public template gallery', () => {
  it('answers a flood of requests with one database read at a time, and reads again for the next ones', async () => {
    let reads = 0;
    let finish = () => {};
    const db = {
      publishedTemplate: {
        findMany: async () => {
          reads++;
          await new Promise<void>((resolve) => {
            finish = resolve;
          });
          return [{ name: `published-${reads}`, description: 'd', revision: 'abc', updatedAt: new Date(0) }];
        },
      },
    } as unknown as PrismaClient;
    const app = express();
    app.use(publicTemplatesRouter({ db }));
    app.use(errorHandler(silentLogger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/public/templates`;
    try {
      const flood = Array.from({ length: 50 }, () =>
        fetch(url).then(async (r) => ({ status: r.status, body: await r.json() })),
      );
      await new Promise((r) => setTimeout(r, 100));
      expect(reads).toBe(1);
      finish();
      const answers = await Promise.all(flood);
      expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200]));
      const names = (a: (typeof answers)[number]) =>
        (a.body as { templates: { kind: string; name: string }[] }).templates.filter((t) => t.kind === 'published');
      expect(new Set(answers.map((a) => names(a)[0]?.name))).toEqual(new Set(['published-1']));
      // Once that read is done, the next request reads again: a takedown shows at once.
      const next = fetch(url).then((r) => r.json());
      await new Promise((r) => setTimeout(r, 50));
      finish();
      expect(names({ status: 200, body: await next })[0]?.name).toBe('published-2');
      expect(reads).toBe(2);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
