// What every pattern shares: the bridge to the host, reading the tool's result, and building elements safely
// (textContent only: the data comes from outside).
import { connectView, type ToolResult, type View } from '@bmms/runner-template/view';
import { config } from './config.ts';

export type Item = Record<string, unknown>;

/** The structure of a result: its structuredContent, else its JSON text (hosts without structure). */
export function dataOf(result: ToolResult): unknown {
  if (result.structuredContent !== undefined) return result.structuredContent;
  try {
    return JSON.parse(result.content?.[0]?.text ?? 'null');
  } catch {
    return result.content?.[0]?.text ?? null;
  }
}

const isItem = (value: unknown): value is Item => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The records of the data: at `config.list`, else the data itself or its first list. */
export function itemsOf(data: unknown): Item[] {
  let list: unknown = data;
  if (isItem(data)) {
    const named = config.list === null ? undefined : new Map(Object.entries(data)).get(config.list);
    const lists = Object.values(data).filter(Array.isArray);
    list = named ?? lists.find((l) => l.some(isItem)) ?? lists[0] ?? [data];
  }
  return (Array.isArray(list) ? list : []).map((v) => (isItem(v) ? v : { value: v }));
}

/** Names of identifiers: a poor label, value or axis. */
const ID = /^(id|uuid|key)$|_id$|Id$/;

/** A field of an item: the configured one, else the first whose name matches, else the first of `kind` (ids last). */
export function pick(item: Item, configured: string | null, names: RegExp, kind?: string): string | null {
  const keys = Object.keys(item);
  if (configured !== null && keys.includes(configured)) return configured;
  const ofKind = keys.filter((k) => kind !== undefined && typeof item[k] === kind);
  return keys.find((k) => names.test(k)) ?? ofKind.find((k) => !ID.test(k)) ?? ofKind[0] ?? null;
}

/** A value as text for a cell. */
export function text(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** An element with text and a class; children appended. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: { text?: string; className?: string } = {},
  ...children: Node[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (options.text !== undefined) node.textContent = options.text;
  if (options.className !== undefined) node.className = options.className;
  node.append(...children);
  return node;
}

const root = document.getElementById('root') as HTMLElement;
const status = document.getElementById('status') as HTMLElement;

/** Says something in the status line (an empty string hides it). */
export function say(message: string): void {
  status.textContent = message;
  status.hidden = message === '';
}

/** Connects to the host and renders each tool result it delivers with `render`. */
export function start(render: (data: unknown, root: HTMLElement) => void): Promise<View> {
  (document.getElementById('title') as HTMLElement).textContent = config.title;
  return connectView({
    name: config.title,
    version: '1.0.0',
    onToolResult(result) {
      if (result.isError) {
        say(result.content?.[0]?.text ?? 'The tool failed.');
        return;
      }
      say('');
      root.replaceChildren();
      render(dataOf(result), root);
    },
  });
}
