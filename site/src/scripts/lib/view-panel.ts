/** The change review page's Views: each view of the change, opened with a real result of its tool from the preview. */
import { api, type ToolView, type ViewInfo } from './api.ts';
import { h, mount } from './dom.ts';
import { field, readArguments } from './tryit.ts';

type Result = { content?: { type: string; text?: string }[]; isError?: boolean } & Record<string, unknown>;

/** The tools the view may call itself (visibility includes "app", the default). */
const callableByView = (t: ToolView) => !t._meta?.ui?.visibility || t._meta.ui.visibility.includes('app');

/** Calls a tool on the change's preview. */
async function callOnPreview(server: string, change: number, tool: string, args: Record<string, unknown>) {
  const r = await api<{ result: Result }>('POST', `/servers/${server}/tools/${encodeURIComponent(tool)}/call`, {
    arguments: args,
    change,
  });
  return r.result;
}

/** One view: the arguments of the tool that opens it, and the view itself once called. */
function viewPanel(server: string, change: number, view: ViewInfo, tools: ToolView[]): HTMLElement {
  const name = view.uri.split('/').at(-1) ?? view.name;
  const tool = tools.find((t) => t._meta?.ui?.resourceUri === view.uri);
  const frame = h('div', { class: 'view-holder' });
  const status = h('p', { class: 'muted small', role: 'status' });
  if (!tool) {
    return h(
      'div',
      { class: 'view-panel stack' },
      h('h3', {}, view.title ?? name),
      h('p', { class: 'muted' }, 'No tool opens this view.'),
    );
  }
  const schema = tool.inputSchema ?? {};
  const required = new Set(schema.required ?? []);
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Open with a result from the preview');
  const form = h(
    'form',
    { class: 'try-form', 'data-view': name, novalidate: true },
    Object.entries(schema.properties ?? {}).map(([n, s]) => field(`view-${name}`, n, s, required.has(n))),
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const args = readArguments(form, schema);
      status.textContent = `Calling ${tool.name} on the preview…`;
      const [result, { showView }] = await Promise.all([
        callOnPreview(server, change, tool.name, args),
        import('./view-host.ts'),
      ]);
      status.textContent = 'Loading the view…';
      await showView(frame, {
        src: `/api/v1/servers/${server}/changes/${change}/views/${encodeURIComponent(name)}`,
        title: `View ${view.title ?? name}`,
        input: args,
        result,
        status: (text) => {
          status.textContent = text;
        },
        callTool: async (toolName, toolArgs) => {
          const called = tools.find((t) => t.name === toolName);
          if (!called || !callableByView(called)) {
            return { content: [{ type: 'text', text: `the view may not call "${toolName}"` }], isError: true };
          }
          return callOnPreview(server, change, toolName, toolArgs);
        },
      });
    } catch (err) {
      status.textContent = '';
      mount(frame, h('p', { class: 'error', role: 'alert' }, (err as Error).message));
    } finally {
      submit.disabled = false;
    }
  });
  return h(
    'div',
    { class: 'view-panel stack', 'data-view': name },
    h('h3', {}, view.title ?? name, ' ', h('code', { class: 'small' }, view.uri)),
    h('p', { class: 'muted small' }, `Opens with ${tool.name}; reaches ${reachOf(view)}.`),
    form,
    status,
    frame,
  );
}

/** What a view's CSP lets it reach, in words. */
function reachOf(view: ViewInfo): string {
  const connect = view._meta?.ui?.csp?.connectDomains ?? [];
  return connect.length > 0 ? connect.join(', ') : 'no other origin';
}

/** Every view of the change, or nothing when it has none. */
export function viewsPanel(server: string, change: number, views: ViewInfo[], tools: ToolView[]): HTMLElement {
  return h(
    'div',
    { class: 'stack' },
    views.map((v) => viewPanel(server, change, v, tools)),
  );
}
