import assert from 'node:assert/strict';
import { it } from 'node:test';
import { config } from '../src/config.ts';
import listFeeds from '../src/tools/list_feeds.ts';
import readFeed from '../src/tools/read_feed.ts';
import { call, fakeContext } from './fake-ctx.ts';

const FEED = config.feeds[0] ?? '';
const ORIGIN = new URL(FEED).origin;

const RSS = `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>Example &amp; News</title>
    <link>${ORIGIN}/</link>
    <item>
      <title><![CDATA[First <b>post</b> & more]]></title>
      <link>/posts/1</link>
      <pubDate>Mon, 23 Nov 2026 10:00:00 GMT</pubDate>
      <description>&lt;p&gt;Hello &amp;amp; welcome&lt;/p&gt;</description>
      <guid>post-1</guid>
    </item>
    <item><title>Second</title><link>${ORIGIN}/posts/2</link><dc:date>2026-11-22T08:00:00Z</dc:date></item>
  </channel>
</rss>`;

const ATOM = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom example</title>
  <link rel="self" href="${ORIGIN}/atom.xml"/>
  <link href="${ORIGIN}/"/>
  <entry>
    <title type="html">Caf&#233; opening</title>
    <link rel="alternate" href="${ORIGIN}/cafe"/>
    <id>urn:uuid:1</id>
    <updated>2026-11-20T12:00:00+01:00</updated>
    <summary>Coffee &#x2615; for everyone</summary>
  </entry>
</feed>`;

const xml = (body: string) => new Response(body, { headers: { 'content-type': 'application/xml' } });

it('lists the configured feeds', async () => {
  assert.deepEqual(await call(listFeeds, {}), { feeds: config.feeds });
});

it('reads an RSS 2.0 feed: CDATA, escaped HTML, relative links and dates', async () => {
  const ctx = fakeContext({ respond: () => xml(RSS) });
  const feed = (await call(readFeed, {}, ctx)) as Record<string, unknown> & { items: Record<string, unknown>[] };
  assert.equal(ctx.requests[0]?.url.href, new URL(FEED).href);
  assert.equal(feed.format, 'rss');
  assert.equal(feed.title, 'Example & News');
  assert.deepEqual(feed.items[0], {
    title: 'First post & more',
    link: `${ORIGIN}/posts/1`,
    published: '2026-11-23T10:00:00.000Z',
    summary: 'Hello & welcome',
    id: 'post-1',
  });
  assert.equal(feed.items[1]?.published, '2026-11-22T08:00:00.000Z');
});

it('reads an Atom feed and honours the limit', async () => {
  const ctx = fakeContext({
    respond: () =>
      xml(ATOM.replace('</feed>', `${ATOM.slice(ATOM.indexOf('<entry>'), ATOM.indexOf('</feed>'))}</feed>`)),
  });
  const feed = (await call(readFeed, { url: FEED, limit: 1 }, ctx)) as {
    format: string;
    title: string;
    link: string;
    items: Record<string, unknown>[];
  };
  assert.equal(feed.format, 'atom');
  assert.equal(feed.title, 'Atom example');
  assert.equal(feed.link, `${ORIGIN}/`);
  assert.equal(feed.items.length, 1);
  assert.deepEqual(feed.items[0], {
    title: 'Café opening',
    link: `${ORIGIN}/cafe`,
    published: '2026-11-20T11:00:00.000Z',
    summary: 'Coffee ☕ for everyone',
    id: 'urn:uuid:1',
  });
});

it('refuses hosts outside the egress allowlist, HTTP errors and non-feeds', async () => {
  await assert.rejects(call(readFeed, { url: 'https://elsewhere.invalid/feed' }, fakeContext()), /not allowed/);
  await assert.rejects(
    call(readFeed, {}, fakeContext({ respond: () => new Response('gone', { status: 410 }) })),
    /HTTP 410/,
  );
  await assert.rejects(
    call(readFeed, {}, fakeContext({ respond: () => xml('<html></html>') })),
    /neither an RSS nor an Atom/,
  );
});
