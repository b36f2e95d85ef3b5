import type { ToolContext } from '@bmms/runner-template/runtime';

const MAX_BYTES = 5_000_000;

/** GETs an HTML page through ctx.fetch; returns its text and final URL, or throws with the reason. */
export async function fetchPage(url: string, ctx: ToolContext): Promise<{ html: string; url: string }> {
  const response = await ctx.fetch(url, { headers: { accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.5' } });
  if (!response.ok) throw new Error(`GET ${url} answered HTTP ${response.status}`);
  const type = response.headers.get('content-type') ?? '';
  if (type !== '' && !/html|xml|text\/plain/i.test(type))
    throw new Error(`GET ${url} returned ${type}, not a web page`);
  const html = await response.text();
  if (html.length > MAX_BYTES) throw new Error(`the page is larger than ${MAX_BYTES} bytes`);
  return { html, url: response.url || url };
}
