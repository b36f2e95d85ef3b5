/** File diffs with diff2html (rendering) and highlight.js (syntax), one collapsible block per file, rendered lazily. */
import { ColorSchemeType } from 'diff2html/lib-esm/types.js';
import { Diff2HtmlUI } from 'diff2html/lib-esm/ui/js/diff2html-ui-base.js';
import 'diff2html/bundles/css/diff2html.min.css';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import plaintext from 'highlight.js/lib/languages/plaintext';
import typescript from 'highlight.js/lib/languages/typescript';
import yaml from 'highlight.js/lib/languages/yaml';
import { h } from './dom.ts';

hljs.registerLanguage('typescript', typescript);
hljs.registerLanguage('javascript', javascript);
hljs.registerLanguage('json', json);
hljs.registerLanguage('markdown', markdown);
hljs.registerLanguage('yaml', yaml);
hljs.registerLanguage('bash', bash);
// diff2html asks for `plaintext` for files it has no language for (.gitignore, LICENSE…).
hljs.registerLanguage('plaintext', plaintext);

export interface FileDiff {
  path: string;
  status: string;
  binary: boolean;
  additions: number;
  deletions: number;
  patch: string | null;
}

/** Files open at first; the rest render when opened, so a 200-file change does not block the page. */
const OPEN_AT_FIRST = 3;
/** Files above this many changed lines start closed. */
const LARGE = 400;

function renderInto(target: HTMLElement, file: FileDiff, layout: 'line-by-line' | 'side-by-side'): void {
  if (!file.patch) {
    target.replaceChildren(h('p', { class: 'muted card' }, 'Binary or large file: not shown.'));
    return;
  }
  const config = {
    outputFormat: layout,
    drawFileList: false,
    matching: 'none' as const,
    colorScheme: ColorSchemeType.AUTO,
    highlight: true,
    fileContentToggle: false,
    stickyFileHeaders: false,
    synchronisedScroll: true,
  };
  const ui = new Diff2HtmlUI(target, file.patch, config, hljs);
  ui.draw();
  try {
    ui.highlightCode();
  } catch {
    // A language highlight.js lacks: the diff stays readable without colours.
    new Diff2HtmlUI(target, file.patch, { ...config, highlight: false }).draw();
  }
}

/** Yields to the browser between chunks of work so input stays responsive. */
const idle = () => new Promise<void>((r) => setTimeout(r, 0));

/** Renders every file as a <details>; the first few open (rendered in small chunks), the rest on demand. */
export async function renderFiles(
  container: HTMLElement,
  files: FileDiff[],
  layout: 'line-by-line' | 'side-by-side',
): Promise<void> {
  container.replaceChildren();
  const pending: (() => void)[] = [];
  for (const [i, file] of files.entries()) {
    const body = h('div', { class: 'diff-body' });
    let drawn = false;
    const draw = () => {
      if (drawn) return;
      drawn = true;
      try {
        renderInto(body, file, layout);
        // Wide code scrolls sideways: keyboard users reach it too.
        for (const region of body.querySelectorAll('.d2h-file-diff, .d2h-file-side-diff')) {
          region.setAttribute('tabindex', '0');
          region.setAttribute('role', 'region');
          region.setAttribute('aria-label', `Changes of ${file.path}`);
        }
      } catch (err) {
        body.replaceChildren(h('p', { class: 'error' }, `This file cannot be shown: ${(err as Error).message}`));
      }
    };
    const details = h(
      'details',
      { class: 'diff-file', 'data-path': file.path },
      h(
        'summary',
        {},
        h('span', {}, file.path, h('span', { class: 'muted' }, ` ${file.status}`)),
        h(
          'span',
          {},
          h('span', { class: 'add' }, `+${file.additions}`),
          ' ',
          h('span', { class: 'del' }, `−${file.deletions}`),
        ),
      ),
      body,
    );
    details.addEventListener('toggle', () => {
      if (details.open) draw();
    });
    if (i < OPEN_AT_FIRST && file.additions + file.deletions <= LARGE) {
      details.open = true;
      pending.push(draw);
    }
    container.append(details);
    if (i % 25 === 24) await idle();
  }
  for (const draw of pending) {
    draw();
    await idle();
  }
}
