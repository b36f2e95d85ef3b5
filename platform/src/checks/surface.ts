import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { egressRefusal, type ToolSpec, toolSpecSchema, type UiResource } from '@bmms/runner-template';
import { countTokens } from 'gpt-tokenizer';
import unhomoglyph from 'unhomoglyph';
import { type Plan, planFor } from '../plans.ts';
import { type JsonPath, jsonLocator, jsonPathText } from './manifest.ts';
import { formatViewsDiff, viewsOf } from './surface-views.ts';
import { type Check, type CheckInput, type CheckOutcome, type Finding, outcomeOf } from './types.ts';

/**
 * Tool names that clients and other popular servers already use: a server offering one of them can
 * take calls meant for the client's own tool (file access, shell, web). Compared after lowercasing and
 * turning camelCase and `-` into `_`.
 */
export const SHADOWED_TOOL_NAMES: ReadonlySet<string> = new Set([
  'bash',
  'shell',
  'sh',
  'zsh',
  'powershell',
  'terminal',
  'exec',
  'execute',
  'execute_command',
  'run',
  'run_command',
  'run_terminal_cmd',
  'run_shell_command',
  'command',
  'cmd',
  'python',
  'code_interpreter',
  'eval',
  'read',
  'read_file',
  'read_many_files',
  'read_multiple_files',
  'write',
  'write_file',
  'create_file',
  'edit',
  'edit_file',
  'multi_edit',
  'multiedit',
  'str_replace_editor',
  'str_replace_based_edit_tool',
  'text_editor',
  'apply_patch',
  'delete_file',
  'move_file',
  'list_directory',
  'list_dir',
  'ls',
  'directory_tree',
  'glob',
  'grep',
  'find',
  'file_search',
  'codebase_search',
  'search',
  'search_files',
  'web_search',
  'websearch',
  'web_fetch',
  'webfetch',
  'fetch',
  'http_request',
  'curl',
  'browser',
  'browse',
  'browser_navigate',
  'navigate',
  'computer',
  'screenshot',
  'todo_write',
  'todowrite',
  'task',
  'agent',
  'notebook_edit',
  'memory',
  'think',
  'send_email',
]);

export const normalizeToolName = (name: string): string =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toLowerCase();

// ---------------------------------------------------------------------------------------------
// Reading a manifest leniently: a broken tool must not hide the others from the diff and the lint.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Surface {
  /** Raw tool entries (for the lint), index-aligned with `tools` in mcp.json. */
  raw: Json[];
  /** Tools that pass the tool schema (for the diff). */
  tools: ToolSpec[];
  egress: string[];
  description: string | undefined;
  /** The `ui://` views (MCP Apps) that pass the resource schema. */
  views: UiResource[];
}

function surfaceOf(text: string | null): Surface | null {
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(value)) return null;
  const raw = Array.isArray(value.tools) ? value.tools : [];
  const tools = raw.flatMap((t) => {
    const r = toolSpecSchema.safeParse(t);
    return r.success ? [r.data] : [];
  });
  const egress = Array.isArray(value.egress) ? value.egress.filter((e): e is string => typeof e === 'string') : [];
  const description = typeof value.description === 'string' ? value.description : undefined;
  return { raw, tools, egress, description, views: viewsOf(value) };
}

// ---------------------------------------------------------------------------------------------
// The diff.

/** JSON with sorted keys, so key order never counts as a change. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (isObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}

const clip = (s: string, n = 160): string => {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
};
const show = (v: unknown): string => (v === undefined ? 'unset' : typeof v === 'string' ? `"${clip(v)}"` : stable(v));

function typeOf(schema: Json | undefined): string {
  if (!isObject(schema)) return 'any';
  const t = schema.type;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) return t.join(' | ');
  if (Array.isArray(schema.enum)) return 'enum';
  if (schema.anyOf || schema.oneOf) return 'union';
  return 'any';
}

/** What changed in an inputSchema, one line per property. */
export function schemaChanges(before: ToolSpec['inputSchema'], after: ToolSpec['inputSchema']): string[] {
  const out: string[] = [];
  const reqA = new Set(before.required ?? []);
  const reqB = new Set(after.required ?? []);
  const propsA = before.properties as Record<string, Json>;
  const propsB = after.properties as Record<string, Json>;
  const optional = (req: Set<string>, k: string) => (req.has(k) ? 'required' : 'optional');
  for (const [key, b] of Object.entries(propsB)) {
    if (!(key in propsA)) {
      out.push(`property \`${key}\` added (${typeOf(b)}, ${optional(reqB, key)})`);
      continue;
    }
    const a = propsA[key];
    const parts: string[] = [];
    if (typeOf(a) !== typeOf(b)) parts.push(`type ${typeOf(a)} → ${typeOf(b)}`);
    if (reqA.has(key) !== reqB.has(key)) parts.push(reqB.has(key) ? 'now required' : 'no longer required');
    const objA = isObject(a) ? a : {};
    const objB = isObject(b) ? b : {};
    if (stable(objA.description) !== stable(objB.description)) {
      parts.push(`description ${show(objA.description)} → ${show(objB.description)}`);
    }
    const other = [...new Set([...Object.keys(objA), ...Object.keys(objB)])]
      .filter((k) => k !== 'type' && k !== 'description' && stable(objA[k]) !== stable(objB[k]))
      .sort();
    if (other.length > 0) parts.push(`${other.join(', ')} changed`);
    if (parts.length > 0) out.push(`property \`${key}\`: ${parts.join('; ')}`);
  }
  for (const key of Object.keys(propsA)) if (!(key in propsB)) out.push(`property \`${key}\` removed`);
  const rest = (s: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'properties' && k !== 'required'));
  const restA = rest(before);
  const restB = rest(after);
  const top = [...new Set([...Object.keys(restA), ...Object.keys(restB)])]
    .filter((k) => stable(restA[k]) !== stable(restB[k]))
    .sort();
  if (top.length > 0) out.push(`schema keywords changed: ${top.join(', ')}`);
  return out;
}

/** What changed in a tool, one line per field (empty when nothing did). */
export function toolChanges(a: ToolSpec, b: ToolSpec): string[] {
  const out: string[] = [];
  if (a.title !== b.title) out.push(`title: ${show(a.title)} → ${show(b.title)}`);
  if (a.description !== b.description) out.push(`description: ${show(a.description)} → ${show(b.description)}`);
  for (const line of schemaChanges(a.inputSchema, b.inputSchema)) out.push(`inputSchema: ${line}`);
  const annA: Record<string, unknown> = a.annotations ?? {};
  const annB: Record<string, unknown> = b.annotations ?? {};
  for (const k of [...new Set([...Object.keys(annA), ...Object.keys(annB)])].sort()) {
    if (annA[k] !== annB[k]) out.push(`annotations.${k}: ${show(annA[k])} → ${show(annB[k])}`);
  }
  const scA = new Set(a.scopes ?? []);
  const scB = new Set(b.scopes ?? []);
  const scopes = [
    ...[...scB].filter((s) => !scA.has(s)).map((s) => `+${s}`),
    ...[...scA].filter((s) => !scB.has(s)).map((s) => `-${s}`),
  ];
  if (scopes.length > 0) out.push(`scopes: ${scopes.join(', ')}`);
  if (a._meta?.ui.resourceUri !== b._meta?.ui.resourceUri) {
    out.push(`view: ${show(a._meta?.ui.resourceUri)} → ${show(b._meta?.ui.resourceUri)}`);
  }
  if (stable(a._meta?.ui.visibility) !== stable(b._meta?.ui.visibility)) {
    out.push(`visibility: ${show(a._meta?.ui.visibility)} → ${show(b._meta?.ui.visibility)}`);
  }
  if (stable(a.outputSchema) !== stable(b.outputSchema)) out.push('outputSchema changed');
  return out;
}

/** The tool surface diff of two manifests' tools. */
export interface SurfaceDiff {
  added: ToolSpec[];
  removed: ToolSpec[];
  changed: { name: string; changes: string[] }[];
  unchanged: string[];
}

/** Compares tools by name: added, removed, changed (with what changed) and unchanged. */
export function diffSurface(base: readonly ToolSpec[], head: readonly ToolSpec[]): SurfaceDiff {
  const byName = new Map(base.map((t) => [t.name, t]));
  const headNames = new Set(head.map((t) => t.name));
  const diff: SurfaceDiff = { added: [], removed: [], changed: [], unchanged: [] };
  for (const tool of head) {
    const before = byName.get(tool.name);
    if (!before) diff.added.push(tool);
    else {
      const changes = toolChanges(before, tool);
      if (changes.length > 0) diff.changed.push({ name: tool.name, changes });
      else diff.unchanged.push(tool.name);
    }
  }
  for (const tool of base) if (!headNames.has(tool.name)) diff.removed.push(tool);
  return diff;
}

function argsOf(tool: ToolSpec): string {
  const req = new Set(tool.inputSchema.required ?? []);
  const args = Object.entries(tool.inputSchema.properties).map(
    ([k, s]) => `${k}: ${typeOf(s as Json)}${req.has(k) ? '' : '?'}`,
  );
  return args.length > 0 ? args.join(', ') : 'no arguments';
}

/** The diff as a short markdown list for the change request. */
export function formatDiff(diff: SurfaceDiff, against: string): string {
  const counts = `${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed, ${diff.unchanged.length} unchanged`;
  const lines = [`Tool surface ${against}: ${counts}`];
  for (const t of diff.added) {
    const view = t._meta ? ` (opens view ${t._meta.ui.resourceUri})` : '';
    lines.push(`+ added \`${t.name}\` (${argsOf(t)}): ${show(t.description)}${view}`);
  }
  for (const t of diff.removed) lines.push(`- removed \`${t.name}\``);
  for (const c of diff.changed) {
    lines.push(`~ changed \`${c.name}\`:`);
    for (const change of c.changes) lines.push(`    - ${change}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// The description lint.

/** Phrasing that speaks to the model instead of describing the tool. Matched on normalised lowercase text. */
const INJECTION: readonly { re: RegExp; what: string }[] = [
  {
    re: /\b(?:ignore|disregard|forget|override|bypass|skip)\b[^.\n]{0,40}\b(?:previous|prior|above|earlier|preceding|all|any|other|original|system|your)\b[^.\n]{0,25}\b(?:instructions?|prompts?|rules|directions|guidelines|directives|constraints)\b/,
    what: 'tells the model to ignore its instructions',
  },
  {
    re: /\b(?:ignore|override|disregard|replace|reveal|print|repeat|leak)\b[^.\n]{0,30}\b(?:the |your )?system (?:prompt|message)\b|\byour (?:system prompt|(?:initial|original|hidden|secret|real) instructions)\b/,
    what: "targets the model's system prompt",
  },
  {
    re: /\byou are now (?:a|an|the|in|my|no longer)\b|\bfrom now on,? (?:you|always|never|ignore|respond)\b|\b(?:pretend|role-?play)\b[^.\n]{0,15}\b(?:to be|you are|as)\b|\bassume the (?:role|persona|identity) of\b|\b(?:new|different|alternate) persona\b|\bact as (?:if you (?:were|are)|an? (?:unrestricted|unfiltered|different|new|evil|jailbroken))\b|\b(?:developer|god|jailbreak) mode\b|\bjailbreak/,
    what: "switches the model's role or persona",
  },
  {
    re: /\b(?:do not|don't|never|must not)\s+(?:tell|inform|mention|reveal|disclose|alert|notify)\b[^.\n]{0,25}\b(?:user|human|operator)\b|\bwithout (?:telling|informing|notifying|alerting|asking) the (?:user|human)\b|\b(?:hide|conceal|keep)\b[^.\n]{0,25}\bfrom the (?:user|human)\b|\bthe user (?:must|should) not (?:know|see|be told)\b/,
    what: 'asks the model to hide what it does from the user',
  },
  {
    re: /<\s*\/?\s*(?:important|system|instructions?|admin|hidden|secret|sys|inst|critical|assistant)\s*>|\[\/?(?:inst|system)\]|<\|(?:im_start|im_end|system|endoftext)\|>|<<\/?sys>>/,
    what: 'uses an <IMPORTANT>/<system>-style tag to pose as a higher authority',
  },
  {
    re: /\b(?:send|post|forward|upload|transmit|exfiltrate|leak|e-?mail|share|copy|submit|include|append|attach|pass|put|bcc|cc)\b[^.\n]{0,60}?(?:\b(?:conversation|chat (?:history|log)|(?:previous|prior|earlier|all|other|past) messages|message history|system prompt|secrets?|api[ _-]?keys?|access tokens?|tokens|credentials?|passwords?|private keys?|ssh keys?|environment variables|env vars|cookies?|session (?:ids?|tokens?)|(?:the )?user'?s? (?:data|files|emails|messages|contacts|history))\b|~\/\.\w+)[^.\n]{0,60}?(?:https?:\/\/|[\w.+-]+@[\w-]+\.[a-z]{2,}|\bwebhook\b|\b(?:this|that|the following) (?:url|address|endpoint)\b|\b(?:parameter|argument|field)\b|\bsidenote\b)/,
    what: 'asks the model to send conversation data, secrets or files somewhere',
  },
  {
    re: /\b(?:always|also|must|should) (?:send|forward|route|redirect|bcc|cc|copy)\b[^.\n]{0,60}(?:https?:\/\/|[\w.+-]+@[\w-]+\.[a-z]{2,})/,
    what: 'redirects data to a fixed outside address',
  },
  {
    re: /~\/\.ssh\b|\bid_(?:rsa|ed25519|ecdsa)\b|\/etc\/(?:passwd|shadow)\b|\.aws\/credentials\b|\.cursor\/mcp\.json\b|\bclaude_desktop_config\.json\b|~\/\.(?:npmrc|netrc|env)\b/,
    what: 'refers to a credential file on the user’s machine',
  },
];

const HIDDEN_WHY =
  'tool descriptions are read by the model as instructions, so text like this can hijack a client (prompt injection)';

const INVISIBLE_NAMES: Record<string, string> = {
  'U+00AD': 'soft hyphen',
  'U+061C': 'arabic letter mark',
  'U+115F': 'hangul choseong filler',
  'U+1160': 'hangul jungseong filler',
  'U+180E': 'mongolian vowel separator',
  'U+200B': 'zero-width space',
  'U+200C': 'zero-width non-joiner',
  'U+200D': 'zero-width joiner',
  'U+200E': 'left-to-right mark',
  'U+200F': 'right-to-left mark',
  'U+202A': 'left-to-right embedding',
  'U+202B': 'right-to-left embedding',
  'U+202C': 'pop directional formatting',
  'U+202D': 'left-to-right override',
  'U+202E': 'right-to-left override',
  'U+2060': 'word joiner',
  'U+2066': 'left-to-right isolate',
  'U+2067': 'right-to-left isolate',
  'U+2068': 'first strong isolate',
  'U+2069': 'pop directional isolate',
  'U+2800': 'braille blank',
  'U+3164': 'hangul filler',
  'U+FEFF': 'zero-width no-break space',
  'U+FFA0': 'halfwidth hangul filler',
};
const INVISIBLE = /\p{Cf}|\p{Co}|\p{Cc}|\p{Cs}|\p{Variation_Selector}|[\u115F\u1160\u3164\uFFA0\u2800]/u;
const PICTO = /\p{Extended_Pictographic}/u;

const hex = (cp: number): string => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

function invisibleName(cp: number): string {
  if (cp >= 0xe0000 && cp <= 0xe007f) return 'tag character';
  if ((cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef)) return 'variation selector';
  if ((cp >= 0xe000 && cp <= 0xf8ff) || cp >= 0xf0000) return 'private use';
  return (
    INVISIBLE_NAMES[hex(cp)] ?? (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ? 'control character' : 'format character')
  );
}

/** Invisible or direction-changing code points in `text` (tabs and newlines allowed; emoji joiners allowed). */
export function invisibleCodePoints(text: string): { cp: number; name: string }[] {
  const chars = [...text];
  const out: { cp: number; name: string }[] = [];
  for (const [i, ch] of chars.entries()) {
    if (ch === '\n' || ch === '\t' || ch === '\r' || !INVISIBLE.test(ch)) continue;
    const cp = ch.codePointAt(0) as number;
    const prev = chars[i - 1] ?? '';
    const next = chars[i + 1] ?? '';
    // Emoji presentation selectors and joiners inside emoji sequences (❤️, 👩‍💻) are legitimate.
    if ((cp === 0xfe0f || cp === 0xfe0e) && PICTO.test(prev)) continue;
    if (cp === 0x200d && PICTO.test(prev.replace(/\uFE0F/, '')) && PICTO.test(next)) continue;
    out.push({ cp, name: invisibleName(cp) });
  }
  return out;
}

const STRIP = new RegExp(INVISIBLE.source, 'gu');
const NON_ASCII = /[\u0080-\u{10FFFF}]/gu;
const PRINTABLE_ASCII = /^[ -~]+$/;
/**
 * Look-alike letters folded to the ASCII letter they imitate (Unicode TR39 confusables: Greek capital iota
 * and Cyrillic і read as "i", Cyrillic о as "o"). Lowercase first: TR39 maps capital I-likes to "l".
 * ASCII stays as it is, so "rn" is never read as "m".
 */
function foldConfusables(lower: string): string {
  return lower.replace(NON_ASCII, (ch) => {
    const folded = unhomoglyph(ch).toLowerCase();
    return PRINTABLE_ASCII.test(folded) ? folded : ch;
  });
}

/** Text as the injection patterns read it: invisible code points removed, NFKC, lowercase, look-alikes folded, single spaces. */
function normalise(text: string): string {
  return foldConfusables(text.replace(STRIP, '').normalize('NFKC').toLowerCase()).replace(/\s+/g, ' ');
}

/** Links and images in prose: markdown, HTML and bare URLs, with the host each points at. */
function linksOf(text: string): { url: string; host: string; image: boolean; parsed: URL | null }[] {
  const found = new Map<string, boolean>();
  for (const m of text.matchAll(/!\[[^\]]*\]\(\s*<?([^)\s>]+)/g)) found.set(m[1] as string, true);
  for (const m of text.matchAll(/<img\b[^>]*?\bsrc\s*=\s*["']?([^"'\s>]+)/gi)) found.set(m[1] as string, true);
  for (const m of text.matchAll(/<(?:a|iframe|link|script)\b[^>]*?\b(?:href|src)\s*=\s*["']?([^"'\s>]+)/gi)) {
    if (!found.has(m[1] as string)) found.set(m[1] as string, false);
  }
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)/g))
    if (!found.has(m[1] as string)) found.set(m[1] as string, false);
  for (const m of text.matchAll(/\b(?:https?|wss?|ftp):\/\/[^\s<>"'`)\]]+/gi)) {
    const url = m[0].replace(/[.,;:!?]+$/, ''); // sentence punctuation after a bare URL
    if (![...found.keys()].some((u) => u.startsWith(url) || url.startsWith(u))) found.set(url, false);
  }
  const out: { url: string; host: string; image: boolean; parsed: URL | null }[] = [];
  for (const [url, image] of found) {
    const absolute = url.startsWith('//') ? `https:${url}` : url;
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(absolute)) continue; // relative links and anchors point nowhere
    const parsed = URL.parse(absolute);
    const host = parsed
      ? parsed.hostname
          .toLowerCase()
          .replace(/^\[|\]$/g, '')
          .replace(/\.$/, '')
      : url;
    out.push({ url: clip(url, 80), host, image, parsed });
  }
  return out;
}

/** A link is inside egress exactly when ctx.fetch could fetch it: the shared egress policy decides. */
function linkAllowed(link: { parsed: URL | null }, egress: readonly string[]): boolean {
  return link.parsed !== null && egressRefusal(link.parsed, egress) === null;
}

/** One string the lint reads: where it is, which tool it belongs to, and whether it is prose. */
interface Field {
  path: JsonPath;
  tool: string | undefined;
  text: string;
  /** Titles and descriptions: what a model reads as explanation (links and the token budget apply). */
  prose: boolean;
  /** The tool's index in `tools`, for the per-tool budget. */
  index: number | undefined;
}

function fieldsOf(surface: Surface): Field[] {
  const fields: Field[] = [];
  if (surface.description !== undefined) {
    fields.push({ path: ['description'], tool: undefined, text: surface.description, prose: true, index: undefined });
  }
  for (const [index, t] of surface.raw.entries()) {
    if (!isObject(t)) continue;
    const tool = typeof t.name === 'string' ? t.name : `#${index}`;
    for (const key of ['name', 'title', 'description'] as const) {
      const v = t[key];
      if (typeof v === 'string')
        fields.push({ path: ['tools', index, key], tool, text: v, prose: key !== 'name', index });
    }
    const walk = (v: Json, p: JsonPath, parentKey: string | number | undefined): void => {
      if (typeof v === 'string') {
        const prose = (parentKey === 'description' || parentKey === 'title') && p.at(-2) !== 'properties';
        fields.push({ path: p, tool, text: v, prose, index });
      } else if (Array.isArray(v)) {
        for (const [i, item] of v.entries()) walk(item, [...p, i], i);
      } else if (isObject(v)) {
        for (const [k, item] of Object.entries(v)) {
          // Property names reach the model too: check them for invisible characters.
          if (invisibleCodePoints(k).length > 0) fields.push({ path: [...p, k], tool, text: k, prose: false, index });
          walk(item, [...p, k], k);
        }
      }
    };
    if (t.inputSchema !== undefined) walk(t.inputSchema, ['tools', index, 'inputSchema'], 'inputSchema');
  }
  return fields;
}

/** Token count with the o200k_base encoding; special-token text counts as plain text. */
export function tokensOf(text: string): number {
  return countTokens(text, { disallowedSpecial: new Set() });
}

interface Budget {
  perTool: { tool: string; index: number; tokens: number }[];
  total: number;
}

function lint(
  surface: Surface,
  plan: Plan,
  line: (p: JsonPath) => number | undefined,
): { findings: Finding[]; budget: Budget } {
  const findings: Finding[] = [];
  const fields = fieldsOf(surface);
  const where = (f: Field): string => `${jsonPathText(f.path)}${f.tool ? ` (tool "${f.tool}")` : ''}`;
  const base = (p: JsonPath) => {
    const l = line(p);
    return { file: 'mcp.json', ...(l ? { line: l } : {}) };
  };

  for (const f of fields) {
    const hidden = invisibleCodePoints(f.text);
    if (hidden.length > 0) {
      const list = [...new Map(hidden.map((h) => [h.cp, h])).values()]
        .slice(0, 5)
        .map((h) => `${hex(h.cp)} ${h.name}`)
        .join(', ');
      findings.push({
        ...base(f.path),
        rule: 'desc-invisible-unicode',
        message: `${where(f)}: contains ${hidden.length} invisible or direction-changing character(s) (${list}); they hide text from reviewers that the model still reads, or reorder what a reviewer sees`,
        fix: 'delete these characters (retype the text in plain characters)',
      });
    }
    const text = normalise(f.text);
    for (const rule of INJECTION) {
      const m = rule.re.exec(text);
      if (!m) continue;
      findings.push({
        ...base(f.path),
        rule: 'desc-hidden-instructions',
        message: `${where(f)}: ${rule.what} ("${clip(m[0], 80)}"); ${HIDDEN_WHY}`,
        fix: 'describe only what the tool does and what its arguments mean; remove text addressed to the model',
      });
      break;
    }
    if (f.prose) {
      const outside = linksOf(f.text).filter((l) => !linkAllowed(l, surface.egress));
      if (outside.length > 0) {
        const hosts = [...new Set(outside.map((l) => l.host))];
        const images = outside.some((l) => l.image);
        findings.push({
          ...base(f.path),
          rule: 'desc-external-link',
          message: `${where(f)}: ${images ? 'image' : 'link'} to ${hosts.map((h) => `"${h}"`).join(', ')} (${outside.map((l) => l.url).join(', ')}), a host not in egress; ${images ? 'a client that renders the image fetches it without a click, and the URL can carry conversation data out' : 'links send users and models to hosts nobody reviewed'}`,
          fix: `remove the ${images ? 'image' : 'link'}, or add ${hosts.map((h) => `"${h}"`).join(', ')} to egress if the server really calls that API`,
        });
      }
    }
  }

  for (const [index, t] of surface.raw.entries()) {
    if (!isObject(t) || typeof t.name !== 'string') continue;
    if (SHADOWED_TOOL_NAMES.has(normalizeToolName(t.name))) {
      findings.push({
        ...base(['tools', index, 'name']),
        rule: 'desc-shadowing',
        message: `tools[${index}].name: "${t.name}" is the name of a common client or server tool; a model may send it calls (and data) meant for that tool`,
        fix: `rename it (in mcp.json and in defineTool) to say what it does on this server, e.g. "search_orders" rather than "search"`,
      });
    }
  }

  const perTool = new Map<number, { tool: string; index: number; tokens: number }>();
  for (const f of fields) {
    if (f.index === undefined || f.tool === undefined || !f.prose) continue;
    const entry = perTool.get(f.index) ?? { tool: f.tool, index: f.index, tokens: 0 };
    entry.tokens += tokensOf(f.text);
    perTool.set(f.index, entry);
  }
  const budget: Budget = { perTool: [...perTool.values()], total: 0 };
  budget.total = budget.perTool.reduce((n, t) => n + t.tokens, 0);
  const { perTool: maxPer, total: maxTotal } = plan.descriptionTokens;
  for (const t of budget.perTool) {
    if (t.tokens <= maxPer) continue;
    findings.push({
      ...base(['tools', t.index, 'description']),
      rule: 'desc-over-budget',
      message: `tools[${t.index}] (tool "${t.tool}"): its title and descriptions take ${t.tokens} tokens, over the ${plan.name} plan's ${maxPer} per tool; every client pays these tokens on every request`,
      fix: `shorten the description and the argument descriptions by at least ${t.tokens - maxPer} tokens: say what the tool does and when to use it, not how it works`,
    });
  }
  if (budget.total > maxTotal) {
    findings.push({
      ...base(['tools']),
      rule: 'desc-over-budget',
      message: `tools: all titles and descriptions take ${budget.total} tokens, over the ${plan.name} plan's ${maxTotal} in sum; every client pays these tokens on every request`,
      fix: `cut ${budget.total - maxTotal} tokens: shorten the longest descriptions or merge tools`,
    });
  }
  return { findings, budget };
}

function formatBudget(budget: Budget, plan: Plan): string {
  const per = budget.perTool.map((t) => `${t.tool} ${t.tokens}`).join(', ') || 'no tools';
  const { perTool, total } = plan.descriptionTokens;
  return `Description tokens (o200k_base): ${per}; total ${budget.total} of ${total} (max ${perTool} per tool, ${plan.name} plan)`;
}

/** Options of the surface check: where it gets the plan of the server being checked. */
export interface SurfaceCheckDeps {
  /** The plan whose token budget applies (default: `planFor()`, i.e. free, until billing lands). */
  planOf?: (serverName: string) => Plan | Promise<Plan>;
}

/**
 * `surface`: the tool surface diff against the base (added, removed, changed tools: for review, never
 * a failure by itself) and the description lint of the head's tools (hidden instructions, invisible
 * Unicode, shadowing names, outside links, token budget).
 */
export function createSurfaceCheck(deps: SurfaceCheckDeps = {}): Check {
  const planOf = deps.planOf ?? (() => planFor());
  return {
    name: 'surface',
    async run({ dir, serverName, baseSha, git }: CheckInput): Promise<CheckOutcome> {
      const text = await readFile(path.join(dir, 'mcp.json'), 'utf8').catch(() => null);
      const head = surfaceOf(text);
      if (!head || text === null) {
        return outcomeOf(
          [
            {
              file: 'mcp.json',
              rule: 'manifest-invalid',
              message:
                'missing or not a JSON object, so the tool surface can be neither diffed nor linted (see the manifest check)',
              fix: 'fix mcp.json first',
            },
          ],
          '',
        );
      }
      let against: string;
      let baseTools: ToolSpec[] = [];
      let baseViews: UiResource[] = [];
      if (baseSha === null) against = 'with no base (first change): every tool is new';
      else {
        const baseSurface = surfaceOf(await git.readFile(serverName, baseSha, 'mcp.json'));
        against = baseSurface
          ? `against base ${baseSha.slice(0, 7)}`
          : `against base ${baseSha.slice(0, 7)}, which has no readable mcp.json: every tool is new`;
        baseTools = baseSurface?.tools ?? [];
        baseViews = baseSurface?.views ?? [];
      }
      const diff = diffSurface(baseTools, head.tools);
      const skipped = head.raw.length - head.tools.length;
      const viewsText = formatViewsDiff(baseViews, head.views);
      const diffText =
        formatDiff(diff, against) +
        (skipped > 0
          ? `\n(${skipped} tool(s) left out of the diff: invalid in mcp.json, see the manifest check)`
          : '') +
        (viewsText ? `\n${viewsText}` : '');
      const plan = await planOf(serverName);
      const { findings, budget } = lint(head, plan, jsonLocator(text));
      const report = `${diffText}\n${formatBudget(budget, plan)}`;
      const outcome = outcomeOf(findings, `${report}\nDescription lint: no findings`);
      if (outcome.conclusion === 'success') return outcome;
      return { ...outcome, summary: `${outcome.summary}\n\n${report}`, log: `${outcome.log}\n${report}\n` };
    },
  };
}

/** `surface` with the default plan lookup. */
export const surfaceCheck: Check = createSurfaceCheck();
