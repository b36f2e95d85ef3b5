/** Generations in the browser: start one, follow its event stream, and end on the change it opened. */
import { api } from './api.ts';
import { errorBox, h, mount } from './dom.ts';

export interface GenerationView {
  id: string;
  kind: string;
  status: string;
  server: string | null;
  spec: Record<string, unknown> | null;
  change: number | null;
  error: string | null;
}

const WORDS: Record<string, string> = {
  planning: 'Planning the server',
  spec_ready: 'Draft ready: check it below',
  model_retry: 'The model is busy; retrying',
  output_invalid: 'The draft was invalid; asking again',
  confirmed: 'Confirmed',
  files_rendered: 'Files written',
  committed: 'Committed on a branch',
  checks: 'Checks started',
  failed: 'Failed',
};

/** Follows a generation's events into `log` until `until(view)` holds; resolves the generation then. */
export function follow(id: string, log: HTMLElement, until: (g: GenerationView) => boolean): Promise<GenerationView> {
  return new Promise((resolve, reject) => {
    const source = new EventSource(`/api/v1/generations/${id}/events`);
    let settled = false;
    const check = async () => {
      const g = await api<GenerationView>('GET', `/generations/${id}`);
      if (settled) return;
      if (g.status === 'failed') {
        settled = true;
        source.close();
        reject(new Error(g.error ?? 'the generation failed'));
      } else if (until(g)) {
        settled = true;
        source.close();
        resolve(g);
      }
    };
    source.onmessage = () => void check();
    for (const type of Object.keys(WORDS)) {
      source.addEventListener(type, (e) => {
        const data = JSON.parse((e as MessageEvent).data) as { type: string; files?: string[]; error?: string };
        log.append(
          h(
            'li',
            { 'data-event': type },
            WORDS[type] ?? type,
            data.files ? h('span', { class: 'muted' }, ` (${data.files.length} files)`) : '',
            data.error ? h('span', { class: 'error' }, `: ${data.error}`) : '',
          ),
        );
        void check().catch(reject);
      });
    }
    // The stream ends when the generation waits or finishes: look once more, then stop.
    source.onerror = () => {
      source.close();
      void check().catch(reject);
      setTimeout(() => void check().catch(reject), 1000);
    };
  });
}

/** The Iterate tab: a prompt that opens a change on an existing server. */
export function iteratePanel(server: string): HTMLElement {
  const prompt = h('textarea', { id: 'iterate-prompt', required: true, 'aria-describedby': 'iterate-hint' });
  const log = h('ol', { class: 'events stack', 'aria-live': 'polite' });
  const out = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Open a change');
  const form = h(
    'form',
    { class: 'stack' },
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'iterate-prompt' }, 'What should change?'),
      prompt,
      h(
        'p',
        { class: 'hint', id: 'iterate-hint' },
        'The current code and your request go to the model; the answer is a diff, opened as a change for you to review.',
      ),
    ),
    submit,
    log,
    out,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    mount(out);
    log.replaceChildren();
    try {
      const g = await api<GenerationView>('POST', '/generations', { server, prompt: prompt.value });
      const done = await follow(g.id, log, (v) => v.change !== null);
      mount(
        out,
        h(
          'a',
          { class: 'button primary', href: `/servers/${server}/changes/${done.change}/` },
          `Review change #${done.change}`,
        ),
      );
    } catch (err) {
      mount(out, errorBox((err as Error).message));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
