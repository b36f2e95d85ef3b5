import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { extractText } from '../html.ts';
import { fetchPage } from '../page.ts';

export default defineTool({
  name: 'get_page_text',
  input: { url: z.url({ protocol: /^https?$/ }), maxChars: z.int().min(100).max(200_000).default(20_000) },
  async handler({ url, maxChars }, ctx) {
    const page = await fetchPage(url, ctx);
    return { url: page.url, ...extractText(page.html, maxChars) };
  },
});
