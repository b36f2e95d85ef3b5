/** The docs search box: Pagefind's index, read by its own script from /pagefind/ on first use. */

// A module (its names stay its own; `status` would be the window's).
export {};

/** What Pagefind's `data()` gives for one result (the fields used here). */
interface PagefindResult {
  url: string;
  excerpt: string;
  meta: { title?: string };
  sub_results?: { title: string; url: string; excerpt: string }[];
}

/** Pagefind's browser API (pagefind.js), the calls used here. */
interface Pagefind {
  options(options: { excerptLength?: number }): Promise<void>;
  init(): Promise<void>;
  debouncedSearch(
    term: string,
    options?: Record<string, unknown>,
    debounceMs?: number,
  ): Promise<{ results: { data: () => Promise<PagefindResult> }[] } | null>;
}

/** Results shown at most. */
const LIMIT = 8;
/** Built by the site's Pagefind integration; a variable, so the bundler leaves this import to the browser. */
const PAGEFIND = '/pagefind/pagefind.js';

const root = document.getElementById('docs-search');
const input = document.getElementById('docs-search-input') as HTMLInputElement | null;
const panel = document.getElementById('docs-search-results');
const list = panel?.querySelector('ul');
const status = document.getElementById('docs-search-status');

let loading: Promise<Pagefind> | undefined;
/** Loads Pagefind once (its WebAssembly reader and the index metadata). */
function pagefind(): Promise<Pagefind> {
  loading ??= (import(/* @vite-ignore */ PAGEFIND) as Promise<Pagefind>).then(async (pf) => {
    await pf.options({ excerptLength: 20 });
    await pf.init();
    return pf;
  });
  return loading;
}

/** Pagefind's excerpt is HTML with <mark> around the hits: keep only its text and the marks. */
function excerptNodes(html: string): Node[] {
  const doc = new DOMParser().parseFromString(`<p>${html}</p>`, 'text/html');
  return [...(doc.body.firstElementChild?.childNodes ?? [])].map((n) => {
    if (n.nodeName === 'MARK') {
      const mark = document.createElement('mark');
      mark.textContent = n.textContent;
      return mark;
    }
    return document.createTextNode(n.textContent ?? '');
  });
}

function resultItem(r: PagefindResult): HTMLLIElement {
  // The section that matched best, when Pagefind found one below the page's title.
  const section = r.sub_results?.find((s) => s.url !== r.url);
  const link = document.createElement('a');
  link.href = section?.url ?? r.url;
  const title = document.createElement('strong');
  title.textContent = r.meta.title ?? r.url;
  if (section && section.title !== r.meta.title) {
    const where = document.createElement('span');
    where.className = 'section';
    where.textContent = ` › ${section.title}`;
    title.append(where);
  }
  const excerpt = document.createElement('span');
  excerpt.className = 'excerpt';
  excerpt.append(...excerptNodes(section?.excerpt ?? r.excerpt));
  link.append(title, excerpt);
  const item = document.createElement('li');
  item.append(link);
  return item;
}

function show(open: boolean): void {
  if (panel) panel.hidden = !open;
}

const links = () => [...(list?.querySelectorAll('a') ?? [])];

async function search(term: string): Promise<void> {
  if (!list || !status) return;
  if (term === '') {
    show(false);
    list.replaceChildren();
    status.textContent = '';
    return;
  }
  let found: PagefindResult[];
  try {
    const pf = await pagefind();
    const answer = await pf.debouncedSearch(term, {}, 120);
    if (answer === null) return; // a newer search replaced this one
    found = await Promise.all(answer.results.slice(0, LIMIT).map((r) => r.data()));
  } catch (err) {
    const item = document.createElement('li');
    item.className = 'empty';
    item.textContent = `Search is unavailable: ${(err as Error).message}`;
    list.replaceChildren(item);
    show(true);
    return;
  }
  if (input?.value.trim() !== term) return;
  if (found.length === 0) {
    const item = document.createElement('li');
    item.className = 'empty';
    item.textContent = `Nothing found for “${term}”.`;
    list.replaceChildren(item);
  } else {
    list.replaceChildren(...found.map(resultItem));
  }
  status.textContent =
    found.length === 0 ? `No results for ${term}` : `${found.length} result${found.length === 1 ? '' : 's'}`;
  show(true);
}

if (root && input && panel) {
  input.addEventListener('focus', () => void pagefind().catch(() => undefined), { once: true });
  input.addEventListener('input', () => void search(input.value.trim()));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' && !panel.hidden) {
      e.preventDefault();
      links()[0]?.focus();
    } else if (e.key === 'Escape') {
      if (panel.hidden) input.value = '';
      show(false);
    }
  });
  panel.addEventListener('keydown', (e) => {
    const all = links();
    const at = all.indexOf(document.activeElement as HTMLAnchorElement);
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const next = at + (e.key === 'ArrowDown' ? 1 : -1);
      if (next < 0) input.focus();
      else all[Math.min(next, all.length - 1)]?.focus();
    } else if (e.key === 'Escape') {
      show(false);
      input.focus();
    }
  });
  // Focus or a click outside the box closes the results.
  root.addEventListener('focusout', (e) => {
    if (!root.contains(e.relatedTarget as Node | null)) show(false);
  });
  input.addEventListener('click', () => {
    if (input.value.trim() !== '' && list?.childElementCount) show(true);
  });
  document.addEventListener('keydown', (e) => {
    const target = e.target as HTMLElement;
    const typing = target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
    if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      input.focus();
    }
  });
}
