/** /servers/<name>/changes/<n>/: the review page: diff, tool surface, checks with live logs, preview, try-it, merge. */
import { api, type ChangeView, type CheckView, changeStatus, type ToolView, type ViewInfo } from '../lib/api.ts';
import type { FileDiff, Layout } from '../lib/diff.ts';
import { announce, byId, codeBlock, errorBox, h, mount, pill, short, skeleton } from '../lib/dom.ts';
import { tryPanel } from '../lib/tryit.ts';
import { viewsPanel } from '../lib/view-panel.ts';

const [, , server = '', , num = ''] = location.pathname.split('/');
const number = Number(num);
const base = `/servers/${server}/changes/${number}`;
let files: FileDiff[] = [];
let layout: Layout = 'line-by-line';
let tried = false;
let firstLoad = true;

interface Surface {
  added: { name: string; description: string }[];
  removed: { name: string }[];
  changed: { name: string; changes: string[] }[];
  unchanged: string[];
}

byId<HTMLAnchorElement>('server-link').href = `/servers/${server}/?tab=changes`;
byId('server-link').textContent = server;
document.title = `${server} #${number} · BuildMyMCPServer`;

function conclusionOf(c: CheckView): string {
  if (c.status !== 'completed') return c.status === 'queued' ? 'queued' : 'building';
  if (c.conclusion === 'success') return 'success';
  // Neither blocks a merge: a skipped check, or one with something to read (replay's differences).
  return c.conclusion === 'skipped' || c.conclusion === 'neutral' ? 'draft' : 'failed';
}

/** The replay check's diff, first on the page: which recorded production calls the change answers differently. */
function renderBehaviour(checks: CheckView[]): void {
  const replay = checks.find((c) => c.name === 'replay');
  const shown = replay?.status === 'completed' && (replay.conclusion === 'neutral' || replay.conclusion === 'success');
  byId('behaviour-section').hidden = !shown;
  if (!shown || !replay?.summary) return;
  mount(
    byId('behaviour'),
    replay.conclusion === 'success'
      ? h('p', { class: 'muted' }, replay.summary)
      : codeBlock(replay.summary, 'calls that answer differently'),
  );
}

const checkNodes = new Map<string, { root: HTMLDetailsElement; head: HTMLElement; log: HTMLElement }>();

async function loadLog(name: string): Promise<void> {
  const node = checkNodes.get(name);
  if (!node) return;
  try {
    const r = await api<{ log: string | null; summary: string | null }>('GET', `${base}/checks/${name}`);
    const text = r.log || r.summary || '(no output yet)';
    // Big logs: set text once (no per-line nodes), so 20,000 lines stay one cheap text node.
    if (node.log.textContent !== text) node.log.textContent = text;
  } catch (err) {
    node.log.textContent = (err as Error).message;
  }
}

function renderChecks(checks: CheckView[]): void {
  const container = byId('checks');
  if (checks.length === 0 && checkNodes.size === 0) {
    mount(container, h('p', { class: 'muted' }, 'Checks are queued.'));
    return;
  }
  if (checkNodes.size === 0) container.replaceChildren();
  for (const c of checks) {
    let node = checkNodes.get(c.name);
    if (!node) {
      const head = h('span');
      const log = h('pre', { class: 'log', tabindex: 0, 'aria-label': `${c.name} log` });
      const root = h('details', { class: 'check', 'data-check': c.name }, h('summary', {}, head), log);
      root.addEventListener('toggle', () => {
        if (root.open) void loadLog(c.name);
      });
      node = { root, head, log };
      checkNodes.set(c.name, node);
      container.append(root);
    }
    const status = conclusionOf(c);
    node.root.dataset.status = status;
    mount(
      node.head,
      h(
        'span',
        { class: 'row' },
        pill(status),
        h('strong', {}, c.name),
        h('span', { class: 'muted small' }, c.durationMs !== null ? `${(c.durationMs / 1000).toFixed(1)} s` : ''),
        c.summary ? h('span', { class: 'muted small check-summary', title: c.summary }, c.summary.split('\n')[0]) : '',
      ),
    );
    if (node.root.open && (c.status !== 'completed' || node.log.textContent === '')) void loadLog(c.name);
  }
}

function renderActions(c: ChangeView): void {
  const merge = byId<HTMLButtonElement>('merge-change');
  const close = byId<HTMLButtonElement>('close-change');
  const reason = byId('merge-reason');
  const failed = c.checks.filter(
    (r) => r.status === 'completed' && r.conclusion !== 'success' && r.conclusion !== 'skipped',
  );
  let why = '';
  if (c.state !== 'open') why = `This change is ${c.state}.`;
  else if (failed.length > 0) why = `Checks failed: ${failed.map((r) => r.name).join(', ')}.`;
  else if (c.checkSuite.conclusion !== 'success') why = 'Waiting for the checks to pass.';
  merge.disabled = why !== '';
  reason.textContent = why;
  merge.setAttribute('aria-describedby', 'merge-reason');
  close.disabled = c.state !== 'open';
}

/** The preview and, once it is ready, the try-it panel and the views with `surface` (fetched by the caller, so all draw at once). */
function renderPreview(c: ChangeView, surface: { tools: ToolView[]; views: ViewInfo[] } | undefined): void {
  if (!c.preview) {
    mount(byId('preview'), h('p', { class: 'muted' }, 'No preview.'));
    return;
  }
  mount(
    byId('preview'),
    h(
      'p',
      { class: 'row' },
      pill(
        c.preview.status === 'ready'
          ? 'live'
          : c.preview.status === 'pending'
            ? 'building'
            : c.preview.status === 'unavailable'
              ? 'failed'
              : 'draft',
      ),
      h('span', {}, c.preview.status),
    ),
    codeBlock(c.preview.url, 'preview URL'),
    codeBlock(c.preview.install.claudeCode, 'Claude Code install for the preview'),
  );
  if (surface) {
    const { tools, views } = surface;
    tried = true;
    mount(
      byId('try'),
      tools.length ? tryPanel(server, tools, number) : h('p', { class: 'muted' }, 'This change has no tools.'),
    );
    // Each view opens in a sandboxed frame with a real result of its tool from the preview.
    byId('views-section').hidden = views.length === 0;
    if (views.length > 0) mount(byId('views'), viewsPanel(server, number, views, tools));
  } else if (c.preview.status !== 'ready') {
    tried = false;
    mount(byId('try'), h('p', { class: 'muted' }, 'Try the tools once the preview is ready.'));
  }
}

/** The tool surface diff: added, removed and changed tools. */
function surfaceView(s: Surface): HTMLElement {
  return s.added.length + s.removed.length + s.changed.length === 0
    ? h('p', { class: 'muted' }, `No tool changes (${s.unchanged.length} unchanged).`)
    : h(
        'ul',
        { class: 'plain stack', id: 'surface-list' },
        s.added.map((t) =>
          h(
            'li',
            {},
            h('span', { class: 'add' }, '+ added '),
            h('code', {}, t.name),
            h('span', { class: 'muted' }, ` ${t.description}`),
          ),
        ),
        s.removed.map((t) => h('li', {}, h('span', { class: 'del' }, '− removed '), h('code', {}, t.name))),
        s.changed.map((t) =>
          h(
            'li',
            {},
            '~ changed ',
            h('code', {}, t.name),
            h(
              'ul',
              {},
              t.changes.map((x) => h('li', { class: 'muted small' }, x)),
            ),
          ),
        ),
      );
}

/**
 * The tool surface and the files. The diff renderer (diff2html, highlight.js and their CSS) loads while the diff is
 * fetched, and both replace their skeletons in one step, so nothing on screen moves as they arrive.
 */
async function renderDiff(): Promise<void> {
  mount(byId('surface'), skeleton(2));
  const [d, { renderFiles }] = await Promise.all([
    api<{ files: FileDiff[]; surface: Surface }>('GET', `${base}/diff`),
    import('../lib/diff.ts'),
  ]);
  files = d.files;
  const surface = surfaceView(d.surface);
  await renderFiles(byId('files'), files, layout, {
    sameStep: () => {
      mount(byId('surface'), surface);
      byId('files-section').hidden = false;
    },
    // The files come below the tool surface: its top bounds theirs.
    top: byId('surface').getBoundingClientRect().top,
    stepwise: twoColumns(),
  });
}

/**
 * Whether the checks sit beside the files (a wide screen) rather than below them: then nothing is laid out below the
 * files, and they may go on screen one at a time.
 */
const twoColumns = () =>
  getComputedStyle(byId('files-section').closest('.split') ?? document.body).gridTemplateColumns.split(' ').length > 1;

/** Draws the files again in another layout. */
async function drawFiles(): Promise<void> {
  const { renderFiles } = await import('../lib/diff.ts');
  await renderFiles(byId('files'), files, layout, { stepwise: twoColumns() });
}

let timer: ReturnType<typeof setTimeout> | undefined;
async function refresh(): Promise<void> {
  clearTimeout(timer);
  try {
    const toolsOf = () =>
      api<{ tools: ToolView[]; views?: ViewInfo[] }>('GET', `/servers/${server}/tools?change=${number}`).then((r) => ({
        tools: r.tools,
        views: r.views ?? [],
      }));
    // On the first load the tools are asked for together with the change (a review usually opens on a ready
    // preview): one round trip less before the column shows.
    const early = firstLoad ? toolsOf().catch(() => undefined) : undefined;
    firstLoad = false;
    const c = await api<ChangeView>('GET', base);
    // The try-it panel's tools are in hand before anything is drawn: the column fills in one step.
    const surface = c.preview?.status === 'ready' && !tried ? ((await early) ?? (await toolsOf())) : undefined;
    byId('change-title').replaceChildren(`#${c.number} ${c.title}`);
    mount(
      byId('change-meta'),
      pill(changeStatus(c)),
      ' ',
      h('code', {}, c.branch),
      ` · head ${short(c.head)}`,
      c.pullRequest?.url
        ? [
            ' · ',
            h(
              'a',
              { href: c.pullRequest.url, id: 'pull-link', rel: 'noopener' },
              `pull request #${c.pullRequest.number} on GitHub`,
            ),
          ]
        : null,
    );
    renderBehaviour(c.checks);
    renderChecks(c.checks);
    renderActions(c);
    renderPreview(c, surface);
    byId('preview-section').hidden = false;
    byId('try-section').hidden = false;
    const moving = c.state === 'open' && (c.checkSuite.conclusion === null || c.preview?.status === 'pending');
    if (moving) timer = setTimeout(() => void refresh(), 2000);
  } catch (err) {
    mount(byId('checks'), errorBox((err as Error).message));
  }
}

async function act(what: 'merge' | 'close'): Promise<void> {
  const button = byId<HTMLButtonElement>(what === 'merge' ? 'merge-change' : 'close-change');
  byId('action-error').textContent = '';
  button.disabled = true;
  try {
    await api('POST', `${base}/${what}`);
    announce(what === 'merge' ? 'Merged: deploying' : 'Closed');
    if (what === 'merge') location.assign(`/servers/${server}/`);
    else await refresh();
  } catch (err) {
    byId('action-error').textContent = (err as Error).message;
    await refresh();
  }
}

byId('merge-change').addEventListener('click', () => void act('merge'));
byId('close-change').addEventListener('click', () => {
  if (confirm(`Close change #${number} without merging?`)) void act('close');
});
for (const [id, value] of [
  ['view-unified', 'line-by-line'],
  ['view-split', 'side-by-side'],
] as const) {
  byId(id).addEventListener('click', () => {
    layout = value;
    byId('view-unified').setAttribute('aria-pressed', String(value === 'line-by-line'));
    byId('view-split').setAttribute('aria-pressed', String(value === 'side-by-side'));
    void drawFiles();
  });
}

mount(byId('checks'), skeleton(4));
void refresh();
void renderDiff().catch((err) => {
  mount(byId('surface'), errorBox((err as Error).message));
});
