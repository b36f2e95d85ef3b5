/** /templates/: the public gallery (GET /api/v1/public/templates, no sign-in), each entry opening the wizard with it. */
import { api } from '../lib/api.ts';
import { byId, h, mount } from '../lib/dom.ts';

/** A gallery entry as the public endpoint lists it. */
interface GalleryTemplate {
  kind: 'builtin' | 'published';
  name: string;
  title?: string;
  description: string;
  revision?: number;
}

/** The wizard with this template chosen (signed-out visitors sign in first and come back to it). */
const wizardHref = (name: string) => `/servers/new/?from=template&template=${encodeURIComponent(name)}`;

function card(t: GalleryTemplate): HTMLLIElement {
  const title = t.title ?? t.name;
  return h(
    'li',
    { class: 'card', 'data-template': t.name },
    h('h2', {}, title),
    h(
      'p',
      { class: 'meta' },
      h('code', {}, t.name),
      h('span', { class: 'kind' }, t.kind === 'builtin' ? 'Built-in' : `Published · revision ${t.revision ?? 1}`),
    ),
    h('p', { class: 'desc', title: t.description }, t.description || 'No description.'),
    h(
      'a',
      { class: 'button', href: wizardHref(t.name) },
      'Use this template',
      h('span', { class: 'visually-hidden' }, `: ${title}`),
    ),
  );
}

async function load(): Promise<void> {
  const list = byId('gallery');
  try {
    const { templates } = await api<{ templates: GalleryTemplate[] }>('GET', '/public/templates');
    mount(list, templates.map(card));
  } catch (err) {
    list.replaceChildren();
    const box = byId('gallery-error');
    box.textContent = `The gallery could not load: ${(err as Error).message}`;
    box.hidden = false;
  } finally {
    list.removeAttribute('aria-busy');
  }
}

void load();
