import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { config } from '../config.ts';
import { parseFeed } from '../feed.ts';

const MAX_BYTES = 5_000_000;

export default defineTool({
  name: 'read_feed',
  input: { url: z.url({ protocol: /^https?$/ }).optional(), limit: z.int().min(1).max(100).default(20) },
  async handler({ url, limit }, ctx) {
    const target = url ?? config.feeds[0];
    if (target === undefined) throw new Error('no feed configured: pass a url');
    const response = await ctx.fetch(target, {
      headers: { accept: 'application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8' },
    });
    if (!response.ok) throw new Error(`GET ${target} answered HTTP ${response.status}`);
    const xml = await response.text();
    if (xml.length > MAX_BYTES) throw new Error(`the feed is larger than ${MAX_BYTES} bytes`);
    const feed = parseFeed(xml, response.url || target);
    return { url: target, ...feed, items: feed.items.slice(0, limit) };
  },
});
