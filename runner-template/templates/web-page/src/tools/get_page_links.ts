import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { extractLinks } from '../html.ts';
import { fetchPage } from '../page.ts';

export default defineTool({
  name: 'get_page_links',
  input: {
    url: z.url({ protocol: /^https?$/ }),
    sameHost: z.boolean().default(false),
    limit: z.int().min(1).max(1000).default(200),
  },
  async handler({ url, sameHost, limit }, ctx) {
    const page = await fetchPage(url, ctx);
    const host = new URL(page.url).host;
    const links = extractLinks(page.html, page.url).filter((l) => !sameHost || new URL(l.url).host === host);
    return { url: page.url, count: links.length, links: links.slice(0, limit) };
  },
});
