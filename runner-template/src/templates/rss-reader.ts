import { z } from 'zod';
import { type StaticBuild, staticTemplate, WEB_PORT_MESSAGE, webPort } from './define.ts';

const options = z.strictObject({
  feeds: z
    .array(
      z
        .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
        .refine((url) => new URL(url).username === '' && new URL(url).password === '', 'must not hold credentials')
        .refine(webPort, WEB_PORT_MESSAGE),
    )
    .min(1, 'list at least one feed URL')
    .max(20)
    .default(['https://hnrss.org/frontpage']),
});

/** `rss-reader`: reads RSS and Atom feeds from the configured hosts. */
export const rssReaderTemplate = staticTemplate({
  name: 'rss-reader',
  title: 'RSS/Atom reader',
  description: 'Reads RSS 2.0, RSS 1.0 and Atom feeds from configured feed URLs: titles, links, dates, summaries.',
  options,
  build: (o): StaticBuild => {
    const hosts = [...new Set(o.feeds.map((f) => new URL(f).host))];
    return {
      description: `Reads RSS and Atom feeds from ${hosts.join(', ')}.`,
      tools: [
        {
          name: 'list_feeds',
          title: 'List feeds',
          description: 'Lists the feed URLs this server is set up to read.',
          inputSchema: { type: 'object', properties: {} },
          annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
        },
        {
          name: 'read_feed',
          title: 'Read a feed',
          description: `Fetches an RSS or Atom feed and returns its title and newest items (title, link, published date, short plain-text summary). The url defaults to the first configured feed; feeds on ${hosts.join(', ')} can be read.`,
          inputSchema: {
            type: 'object',
            properties: {
              url: { type: 'string', format: 'uri', description: 'Feed URL (default: the first configured feed).' },
              limit: { type: 'integer', minimum: 1, maximum: 100, description: 'Most items to return (default 20).' },
            },
          },
          annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
        },
      ],
      egress: hosts,
      config: { feeds: o.feeds },
    };
  },
});
