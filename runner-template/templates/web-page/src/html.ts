// Pulls readable text, headings and links out of an HTML page with plain string work: no DOM, no
// script ever runs, nothing else is fetched.

const NAMED: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  ndash: '–',
  mdash: '—',
  hellip: '…',
  copy: '©',
  laquo: '«',
  raquo: '»',
  rsquo: '’',
  lsquo: '‘',
  rdquo: '”',
  ldquo: '“',
  eacute: 'é',
  egrave: 'è',
  ecirc: 'ê',
  aacute: 'á',
  agrave: 'à',
  acirc: 'â',
  ccedil: 'ç',
  iacute: 'í',
  oacute: 'ó',
  uacute: 'ú',
  ntilde: 'ñ',
  auml: 'ä',
  ouml: 'ö',
  uuml: 'ü',
  szlig: 'ß',
  Eacute: 'É',
  euro: '€',
  pound: '£',
  deg: '°',
  times: '×',
};

/** Replaces character references (&amp; &#233; &#xE9; and common named ones). */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (whole, ref: string) => {
    const n = ref.startsWith('#x')
      ? Number.parseInt(ref.slice(2), 16)
      : ref.startsWith('#')
        ? Number(ref.slice(1))
        : -1;
    if (n > 0 && n <= 0x10ffff) return String.fromCodePoint(n);
    return Object.hasOwn(NAMED, ref) ? (NAMED[ref] ?? whole) : whole;
  });
}

/** The page without comments and elements that hold no readable text (scripts, styles, SVG, forms' templates). */
export function withoutNoise(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<(script|style|noscript|svg|template|iframe|object|canvas)\b[\s\S]*?<\/\1\s*>/gi, '');
}

/** Text of a fragment: block elements become line breaks, tags go, entities are decoded, spaces collapse. */
export function textOf(fragment: string): string {
  const text = fragment
    .replace(/<(?:br|hr)\b[^>]*>/gi, '\n')
    .replace(
      /<\/?(?:p|div|section|article|main|header|footer|aside|nav|li|ul|ol|h[1-6]|tr|table|blockquote|pre|dd|dt|figcaption)\b[^>]*>/gi,
      '\n',
    )
    .replace(/<[^>]*>/g, '');
  return decodeEntities(text)
    .split('\n')
    .map((line) => line.replace(/\s+/g, ' ').trim())
    .filter((line) => line !== '')
    .join('\n');
}

function firstInner(html: string, tag: string): string | undefined {
  return new RegExp(`<${tag}\\b[^>]*>([\\s\\S]*?)</${tag}\\s*>`, 'i').exec(html)?.[1];
}

function attribute(tag: string, name: string): string | null {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(tag);
  return m ? decodeEntities(m[1] ?? m[2] ?? m[3] ?? '') : null;
}

/** The content of `<meta name|property="…">`, among `names`. */
function meta(html: string, names: string[]): string | null {
  for (const m of html.matchAll(/<meta\b[^>]*>/gi)) {
    const key = (attribute(m[0], 'name') ?? attribute(m[0], 'property') ?? '').toLowerCase();
    if (names.includes(key)) return attribute(m[0], 'content');
  }
  return null;
}

export type PageText = {
  title: string;
  description: string | null;
  headings: string[];
  text: string;
  truncated: boolean;
};

/** Title, description, h1–h3 headings and the readable text (of <main> or <article> when the page has one). */
export function extractText(html: string, maxChars: number): PageText {
  const clean = withoutNoise(html);
  const title = textOf(firstInner(clean, 'title') ?? '').replace(/\n/g, ' ');
  const body = firstInner(clean, 'main') ?? firstInner(clean, 'article') ?? firstInner(clean, 'body') ?? clean;
  const headings = [...body.matchAll(/<h([1-3])\b[^>]*>([\s\S]*?)<\/h\1\s*>/gi)]
    .map((m) => textOf(m[2] ?? '').replace(/\n/g, ' '))
    .filter((h) => h !== '');
  const full = textOf(body);
  return {
    title,
    description: meta(clean, ['description', 'og:description']),
    headings: headings.slice(0, 50),
    text: full.slice(0, maxChars),
    truncated: full.length > maxChars,
  };
}

export type PageLink = {
  url: string;
  text: string;
};

/** Every distinct http(s) link of the page, resolved against `pageUrl`, with its text. */
export function extractLinks(html: string, pageUrl: string): PageLink[] {
  const base = attribute(/<base\b[^>]*>/i.exec(html)?.[0] ?? '', 'href') ?? pageUrl;
  const seen = new Set<string>();
  const links: PageLink[] = [];
  for (const m of withoutNoise(html).matchAll(/<a\b([^>]*)>([\s\S]*?)<\/a\s*>/gi)) {
    const href = attribute(` ${m[1] ?? ''}`, 'href');
    if (href === null || href.startsWith('#')) continue;
    let url: URL;
    try {
      url = new URL(href, new URL(base, pageUrl));
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    url.hash = '';
    if (seen.has(url.href)) continue;
    seen.add(url.href);
    links.push({ url: url.href, text: textOf(m[2] ?? '').replace(/\n/g, ' ') });
  }
  return links;
}
