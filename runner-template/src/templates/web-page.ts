import { z } from 'zod';
import { egressEntrySchema } from '../spec.ts';
import { type StaticBuild, staticTemplate } from './define.ts';

const options = z.strictObject({
  hosts: z
    .array(
      egressEntrySchema
        .refine((host) => !host.includes(':'), 'must be a host name without a port: tools reach only the web ports')
        .refine((host) => !host.includes('*'), 'must be a host name such as docs.example.com, not a wildcard'),
    )
    .min(1, 'list at least one host')
    .max(20)
    .default(['en.wikipedia.org']),
});

const readOnly = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true };

/** `web-page`: fetches pages from allowed hosts and extracts their text and links. */
export const webPageTemplate = staticTemplate({
  name: 'web-page',
  title: 'Web page fetch and extract',
  description: 'Fetches web pages from allowed hosts and returns their readable text, headings and links.',
  options,
  build: (o): StaticBuild => {
    const hosts = [...new Set(o.hosts)];
    const where = hosts.join(', ');
    return {
      description: `Reads web pages from ${where}: text, headings and links.`,
      tools: [
        {
          name: 'get_page_text',
          title: 'Get page text',
          description: `Fetches a web page on ${where} and returns its title, meta description, h1-h3 headings and readable text (scripts, styles and markup removed; the main or article element when present), cut at maxChars.`,
          inputSchema: {
            type: 'object',
            properties: {
              url: { type: 'string', format: 'uri', description: 'Page URL (http or https).' },
              maxChars: {
                type: 'integer',
                minimum: 100,
                maximum: 200000,
                description: 'Most characters of text (default 20000).',
              },
            },
            required: ['url'],
          },
          annotations: readOnly,
        },
        {
          name: 'get_page_links',
          title: 'Get page links',
          description: `Fetches a web page on ${where} and lists its distinct http(s) links as absolute URLs with their link text; sameHost keeps links to the page's own host only.`,
          inputSchema: {
            type: 'object',
            properties: {
              url: { type: 'string', format: 'uri', description: 'Page URL (http or https).' },
              sameHost: { type: 'boolean', description: "Only links to the page's own host (default false)." },
              limit: { type: 'integer', minimum: 1, maximum: 1000, description: 'Most links to return (default 200).' },
            },
            required: ['url'],
          },
          annotations: readOnly,
        },
      ],
      egress: hosts,
      config: { hosts },
    };
  },
});
