// A small, tolerant reader for RSS 2.0, RSS 1.0 (RDF) and Atom 1.0: it pulls the few elements a reader
// needs out of the XML text (no DTDs, no external entities, nothing fetched while parsing).

export type FeedItem = {
  title: string;
  link: string | null;
  published: string | null;
  summary: string;
  id: string | null;
};

export type Feed = {
  format: 'rss' | 'atom';
  title: string;
  link: string | null;
  items: FeedItem[];
};

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** Replaces XML/HTML character references (&amp; &#233; &#xE9; and a few named ones). */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#x')) return safeCodePoint(Number.parseInt(ref.slice(2), 16)) ?? whole;
    if (ref.startsWith('#')) return safeCodePoint(Number.parseInt(ref.slice(1), 10)) ?? whole;
    return Object.hasOwn(NAMED, ref) ? (NAMED[ref] ?? whole) : whole;
  });
}

function safeCodePoint(n: number): string | undefined {
  return Number.isInteger(n) && n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : undefined;
}

/** The text of an element's content: CDATA unwrapped, entities decoded, markup removed, spaces collapsed. */
export function textOf(inner: string): string {
  let text = '';
  let rest = inner;
  for (;;) {
    const start = rest.indexOf('<![CDATA[');
    if (start === -1) break;
    const end = rest.indexOf(']]>', start);
    if (end === -1) break;
    text += decodeEntities(rest.slice(0, start)) + rest.slice(start + 9, end);
    rest = rest.slice(end + 3);
  }
  text += decodeEntities(rest);
  // Content is often HTML (escaped, or in CDATA): then drop its tags and decode its own entities.
  const html = /<[a-zA-Z/!][^>]*>/.test(text);
  const plain = html ? decodeEntities(text.replace(/<[^>]*>/g, ' ')) : text;
  return plain.replace(/\s+/g, ' ').trim();
}

/** Inner XML of every `<name …>…</name>` (any namespace prefix), in order, not nested. */
export function elements(xml: string, name: string): string[] {
  const re = new RegExp(`<(?:[\\w-]+:)?${name}(?:\\s[^>]*)?>([\\s\\S]*?)</(?:[\\w-]+:)?${name}\\s*>`, 'g');
  return [...xml.matchAll(re)].map((m) => m[1] ?? '');
}

/** The text of the first child element among `names`, or null. */
export function childText(block: string, names: string[]): string | null {
  for (const name of names) {
    const [first] = elements(block, name);
    if (first !== undefined) return textOf(first);
  }
  return null;
}

/** The value of attribute `attr` in an opening tag's text. */
function attribute(tag: string, attr: string): string | null {
  const m = new RegExp(`\\s${attr}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(tag);
  return m ? decodeEntities(m[1] ?? m[2] ?? '') : null;
}

/** Atom's link: rel="alternate" (or no rel) href. */
function atomLink(block: string): string | null {
  const tags = [...block.matchAll(/<(?:[\w-]+:)?link\b[^>]*>/g)].map((m) => m[0]);
  const alternate = tags.find((t) => (attribute(t, 'rel') ?? 'alternate') === 'alternate');
  return alternate ? attribute(alternate, 'href') : null;
}

/** An ISO date when the text is a date, else the text itself (null when absent). */
function isoDate(text: string | null): string | null {
  if (text === null || text === '') return null;
  const time = Date.parse(text);
  return Number.isNaN(time) ? text : new Date(time).toISOString();
}

/** Resolves a link against the feed's URL (relative links happen); null when it is not a URL. */
function absolute(link: string | null, base: string): string | null {
  if (link === null || link === '') return null;
  try {
    return new URL(link, base).href;
  } catch {
    return null;
  }
}

/** Parses feed XML fetched from `url`; throws when it is neither RSS nor Atom. */
export function parseFeed(xml: string, url: string, summaryChars = 400): Feed {
  const clip = (text: string) => (text.length > summaryChars ? `${text.slice(0, summaryChars - 1)}…` : text);
  const withoutItems = (block: string, item: string) => block.replace(elementsPattern(item), '');
  if (/<(?:[\w-]+:)?feed[\s>]/.test(xml)) {
    const [feed = ''] = elements(xml, 'feed');
    const head = withoutItems(feed, 'entry');
    return {
      format: 'atom',
      title: childText(head, ['title']) ?? '',
      link: absolute(atomLink(head), url),
      items: elements(feed, 'entry').map((entry) => ({
        title: childText(entry, ['title']) ?? '',
        link: absolute(atomLink(entry), url),
        published: isoDate(childText(entry, ['published', 'updated'])),
        summary: clip(childText(entry, ['summary', 'content']) ?? ''),
        id: childText(entry, ['id']),
      })),
    };
  }
  if (/<(?:[\w-]+:)?(?:rss|RDF)[\s>]/.test(xml)) {
    const [channel = ''] = elements(xml, 'channel');
    const head = withoutItems(channel, 'item');
    return {
      format: 'rss',
      title: childText(head, ['title']) ?? '',
      link: absolute(childText(head, ['link']), url),
      items: elements(xml, 'item').map((item) => ({
        title: childText(item, ['title']) ?? '',
        link: absolute(childText(item, ['link']), url),
        published: isoDate(childText(item, ['pubDate', 'date', 'published'])),
        summary: clip(childText(item, ['description', 'summary', 'encoded']) ?? ''),
        id: childText(item, ['guid']),
      })),
    };
  }
  throw new Error('the document is neither an RSS nor an Atom feed');
}

function elementsPattern(name: string): RegExp {
  return new RegExp(`<(?:[\\w-]+:)?${name}(?:\\s[^>]*)?>[\\s\\S]*?</(?:[\\w-]+:)?${name}\\s*>`, 'g');
}
