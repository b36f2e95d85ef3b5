import assert from 'node:assert/strict';
import { it } from 'node:test';
import { config } from '../src/config.ts';
import getPageLinks from '../src/tools/get_page_links.ts';
import getPageText from '../src/tools/get_page_text.ts';
import { call, fakeContext } from './fake-ctx.ts';

const ORIGIN = `https://${config.hosts[0]}`;
const PAGE = `<!doctype html><html><head>
  <title>Caf&eacute;s &amp; bars</title>
  <meta name="description" content="Where to drink coffee">
  <style>body { color: red }</style>
  <script>document.write('<p>never shown</p>')</script>
</head><body>
  <nav><a href="/">Home</a></nav>
  <main>
    <h1>Best caf&#233;s</h1>
    <p>Open   every day,<br>even <b>Sunday</b>.</p>
    <!-- a comment that must not show -->
    <h2>North</h2>
    <ul><li><a href="/north#top">North side</a></li><li><a href="https://other.example/x">Elsewhere</a></li>
    <li><a href="mailto:a@b.c">Mail</a></li><li><a href='javascript:void(0)'>JS</a></li><li><a href="/north">Again</a></li></ul>
  </main>
</body></html>`;

const html = () => new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8' } });

it('extracts title, description, headings and the text of <main>, without scripts, styles or comments', async () => {
  const ctx = fakeContext({ respond: html });
  const page = (await call(getPageText, { url: `${ORIGIN}/cafes` }, ctx)) as Record<string, unknown>;
  assert.equal(ctx.requests[0]?.url.href, `${ORIGIN}/cafes`);
  assert.equal(page.title, 'Cafés & bars');
  assert.equal(page.description, 'Where to drink coffee');
  assert.deepEqual(page.headings, ['Best cafés', 'North']);
  assert.equal(page.text, 'Best cafés\nOpen every day,\neven Sunday.\nNorth\nNorth side\nElsewhere\nMail\nJS\nAgain');
  assert.equal(page.truncated, false);
});

it('truncates long text to maxChars', async () => {
  const page = (await call(getPageText, { url: `${ORIGIN}/`, maxChars: 100 }, fakeContext({ respond: html }))) as {
    text: string;
  };
  assert.ok(page.text.length <= 100);
});

it('lists distinct http(s) links, resolved and without fragments; sameHost keeps this host only', async () => {
  const all = (await call(getPageLinks, { url: `${ORIGIN}/cafes` }, fakeContext({ respond: html }))) as {
    links: { url: string }[];
  };
  assert.deepEqual(
    all.links.map((l) => l.url),
    [`${ORIGIN}/`, `${ORIGIN}/north`, 'https://other.example/x'],
  );
  const same = (await call(
    getPageLinks,
    { url: `${ORIGIN}/cafes`, sameHost: true },
    fakeContext({ respond: html }),
  )) as { count: number };
  assert.equal(same.count, 2);
});

it('refuses hosts outside egress, HTTP errors and non-HTML answers', async () => {
  await assert.rejects(call(getPageText, { url: 'https://elsewhere.invalid/' }), /not allowed/);
  await assert.rejects(call(getPageText, { url: `${ORIGIN}/missing` }, fakeContext()), /HTTP 404/);
  const png = () => new Response('x', { headers: { 'content-type': 'image/png' } });
  await assert.rejects(
    call(getPageText, { url: `${ORIGIN}/logo.png` }, fakeContext({ respond: png })),
    /not a web page/,
  );
});
