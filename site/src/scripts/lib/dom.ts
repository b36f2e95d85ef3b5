/** Small DOM helpers for the dashboard islands: elements are built, never parsed from API text. */

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** Creates an element; `on*` attributes become listeners, `false`/nullish attributes are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces an element's children. */
export function mount(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** The element with `id`; throws when the page shell lacks it (a build mistake, not a user error). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
}

/** "3 min ago" for an ISO date. */
export function ago(iso: string | null | undefined): string {
  if (!iso) return '—';
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** The first 7 characters of a commit. */
export const short = (sha: string | null | undefined) => (sha ? sha.slice(0, 7) : '—');

/** Announces a message to screen readers (and shows it briefly). */
export function announce(message: string): void {
  const live = document.getElementById('live-status');
  if (live) live.textContent = message;
}

/** A button that copies `text` and says so. */
export function copyButton(text: string, label = 'Copy'): HTMLButtonElement {
  const name = `${label} to clipboard`;
  const button = h('button', { type: 'button', class: 'copy', 'aria-label': name }, 'Copy');
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Press Ctrl+C';
    }
    button.dataset.state = 'done';
    // Named by what it shows meanwhile: a name without the visible text confuses voice control.
    button.removeAttribute('aria-label');
    announce(button.textContent ?? '');
    setTimeout(() => {
      button.textContent = 'Copy';
      button.setAttribute('aria-label', name);
      delete button.dataset.state;
    }, 1600);
  });
  return button;
}

/** A code block with its copy button at the top right. */
export function codeBlock(text: string, label?: string): HTMLElement {
  return h(
    'div',
    { class: 'code-block' },
    h('pre', { tabindex: 0, ...(label ? { 'aria-label': label } : {}) }, h('code', {}, text)),
    copyButton(text, label ? `Copy ${label}` : 'Copy'),
  );
}

/** A status pill: live (green), building (amber), failed (red), draft (grey). */
export function pill(status: string, title?: string): HTMLElement {
  return h(
    'span',
    { class: `pill pill-${status}`, ...(title ? { title } : {}) },
    h('span', { class: 'dot', 'aria-hidden': 'true' }),
    status,
  );
}

/** A loading placeholder row. */
export const skeleton = (lines = 3) =>
  h(
    'div',
    { class: 'skeleton', 'aria-busy': 'true', 'aria-label': 'Loading' },
    ...Array.from({ length: lines }, () => h('span')),
  );

/** An error box with the API's message. */
export const errorBox = (message: string) => h('p', { class: 'error', role: 'alert' }, message);
