/**
 * File diffs with diff2html (rendering) and highlight.js (syntax), one collapsible block per file. The work is cut
 * so no task runs long and nothing on screen moves: files are drawn plain, off screen, one per task; the first ones
 * go on screen in one step; colours follow in small slices (they change no size).
 */
import { ColorSchemeType } from 'diff2html/lib-esm/types.js';
import { Diff2HtmlUI } from 'diff2html/lib-esm/ui/js/diff2html-ui-base.js';
import { closeTags, getLanguage, mergeStreams, nodeStream } from 'diff2html/lib-esm/ui/js/highlight.js-helpers.js';
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

export type Layout = 'line-by-line' | 'side-by-side';

/** Files open at first; the rest render when opened, so a 200-file change does not block the page. */
const OPEN_AT_FIRST = 3;
/** Files above this many changed lines start closed. */
const LARGE = 400;
/** Files whose summaries go on screen in the first step; the rest follow in chunks of this size. */
const CHUNK = 25;
/** Highlighting yields to the browser after this long, so input stays responsive (a long task is 50 ms). */
const SLICE_MS = 12;

/**
 * Lower bounds of a drawn file's heights in CSS pixels (measured: a summary 35, diff2html's file header 35, a row 22.8),
 * to tell that an open file starts below the first screen: it can then be drawn after the rest is on screen, since
 * its growth moves only what is below it, off screen. Bounds too low only draw more at first; they never let a
 * visible file move.
 */
const MIN_SUMMARY_PX = 32;
const MIN_HEADER_PX = 32;
const MIN_ROW_PX = 20;

/** The least height a file takes on screen: closed, its summary; open, also its header and at least one row per hunk and per added (or deleted, if more) line, in either layout. */
function minHeight(file: FileDiff, open: boolean): number {
  if (!open) return MIN_SUMMARY_PX;
  const hunks = file.patch?.match(/^@@/gm)?.length ?? 0;
  return MIN_SUMMARY_PX + MIN_HEADER_PX + (hunks + Math.max(file.additions, file.deletions)) * MIN_ROW_PX;
}

/** Yields to the browser between chunks of work so input stays responsive. */
const idle = () => new Promise<void>((r) => setTimeout(r, 0));

/**
 * Yields until the browser has drawn a frame, so what was just put on screen is laid out and painted on its own,
 * not together with the next step (a hidden tab draws no frames: it goes on after 100 ms).
 */
const frame = () =>
  new Promise<void>((r) => {
    requestAnimationFrame(() => setTimeout(r, 0));
    setTimeout(r, 100);
  });

/** Draws one file's diff, without colours (see `highlight`). */
function renderInto(target: HTMLElement, file: FileDiff, layout: Layout): void {
  if (!file.patch) {
    target.replaceChildren(h('p', { class: 'muted card' }, 'Binary or large file: not shown.'));
    return;
  }
  new Diff2HtmlUI(target, file.patch, {
    outputFormat: layout,
    drawFileList: false,
    matching: 'none',
    colorScheme: ColorSchemeType.AUTO,
    highlight: false,
    fileListToggle: false,
    fileContentToggle: false,
    stickyFileHeaders: false,
    synchronisedScroll: true,
  }).draw();
}

/** One line as diff2html's own highlighter does it (its markup kept), for a language highlight.js knows. */
function highlightLine(line: Element, language: string): void {
  const text = line.textContent;
  if (!text) return;
  const result = closeTags(hljs.highlight(text, { language, ignoreIllegals: true }));
  const original = nodeStream(line);
  if (original.length) {
    const node = document.createElement('div');
    node.innerHTML = result.value;
    result.value = mergeStreams(original, nodeStream(node), text);
  }
  line.classList.add('hljs', language);
  // highlight.js escapes the text it was given: the markup is its spans only.
  line.innerHTML = result.value;
}

/**
 * Colours the drawn lines of `body`, a slice at a time (diff2html's `highlightCode` does a whole file in one task).
 * Colours change no size, so nothing moves while this runs.
 */
async function highlight(body: HTMLElement): Promise<void> {
  let since = performance.now();
  for (const file of body.querySelectorAll('.d2h-file-wrapper')) {
    const ext = file.getAttribute('data-lang');
    let language = ext ? getLanguage(ext) : 'plaintext';
    if (hljs.getLanguage(language) === undefined) language = 'plaintext';
    for (const line of file.querySelectorAll('.d2h-code-line-ctn')) {
      try {
        highlightLine(line, language);
      } catch {
        // A line highlight.js cannot read stays plain: the diff is readable without colours.
      }
      if (performance.now() - since > SLICE_MS) {
        await idle();
        // The file was closed or drawn again meanwhile: these lines are gone.
        if (!body.isConnected || !file.isConnected) return;
        since = performance.now();
      }
    }
  }
}

/**
 * One file as a <details>: `draw()` draws its diff (it may run before the block is on screen), `colour()` then
 * highlights it, once. A block that `auto` marks is drawn and coloured by `renderFiles`; any other is drawn when a
 * person opens it.
 */
function fileBlock(
  file: FileDiff,
  layout: Layout,
  auto: boolean,
): { details: HTMLDetailsElement; draw: () => void; colour: () => Promise<void> } {
  const body = h('div', { class: 'diff-body' });
  let drawn = false;
  let coloured = false;
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
  const colour = async () => {
    if (coloured || !drawn) return;
    coloured = true;
    await highlight(body);
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
    if (!details.open || (auto && !drawn)) return;
    draw();
    void colour();
  });
  return { details, draw, colour };
}

/** The latest `renderFiles` call per container. */
const runs = new WeakMap<HTMLElement, symbol>();

/** Where and how `renderFiles` may put the files on screen. */
export interface RenderOptions {
  /** Runs in the step that first fills the container (the caller's other content from the same response). */
  sameStep?: () => void;
  /** A lower bound of the container's distance from the top of the viewport. */
  top?: number;
  /**
   * Nothing is laid out below the container: files may go on screen one at a time, each drawn file in a step of its
   * own (appending below moves nothing), so no step lays out more than one file.
   */
  stepwise?: boolean;
}

/**
 * Renders every file as a <details>, the first few open, without moving what is on screen (no layout shift). Open
 * files are drawn off screen, one per task. Stepwise, each goes on screen as soon as it is drawn; otherwise the first
 * chunk (with the open files that start on the first screen) replaces the container's content in one step and the
 * open files below the first screen are drawn after it. Colours follow; closed files are drawn when opened.
 */
export async function renderFiles(
  container: HTMLElement,
  files: FileDiff[],
  layout: Layout,
  options: RenderOptions = {},
): Promise<void> {
  // A newer call (another layout) takes the container over: this one stops at its next pause.
  const run = Symbol('render');
  runs.set(container, run);
  const pause = async (wait: () => Promise<void>) => {
    await wait();
    return runs.get(container) !== run;
  };
  let y = options.top ?? 0;
  const blocks = files.map((file, i) => {
    const open = i < OPEN_AT_FIRST && file.additions + file.deletions <= LARGE;
    // Scrolled (a reload keeps its place): what is on screen is not known, so everything open is drawn first.
    const belowFold = window.scrollY === 0 && y >= window.innerHeight;
    y += minHeight(file, open);
    return { ...fileBlock(file, layout, open), open, later: open && belowFold && !options.stepwise };
  });
  let pending: HTMLDetailsElement[] = [];
  let filled = false;
  /** Puts the pending blocks on screen below the ones already there (the first time: in place of the skeleton). */
  const flush = () => {
    if (filled) container.append(...pending);
    else {
      container.replaceChildren(...pending);
      options.sameStep?.();
      filled = true;
    }
    pending = [];
  };
  if (options.stepwise) {
    for (const b of blocks) {
      if (b.open) {
        b.draw();
        if (await pause(idle)) return;
        b.details.open = true;
      }
      pending.push(b.details);
      if (b.open || pending.length >= CHUNK) {
        flush();
        if (await pause(frame)) return;
      }
    }
  } else {
    for (const b of blocks) {
      if (!b.open || b.later) continue;
      b.draw();
      if (await pause(idle)) return;
    }
    for (const [i, b] of blocks.entries()) {
      b.details.open = b.open;
      pending.push(b.details);
      if (pending.length >= CHUNK || i === blocks.length - 1) {
        flush();
        if (await pause(idle)) return;
      }
    }
    for (const b of blocks) {
      if (!b.later) continue;
      b.draw();
      if (await pause(idle)) return;
    }
  }
  if (!filled || pending.length > 0) flush();
  for (const b of blocks) if (b.open) await b.colour();
}
