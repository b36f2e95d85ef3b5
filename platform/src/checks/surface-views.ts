import { type UiResource, uiResourceSchema } from '@bmms/runner-template';

/**
 * The views part of the tool-surface diff (MCP Apps): which `ui://` views a change adds, removes or changes, and
 * above all what each may now reach (its CSP) and ask for (permissions), so a reviewer reads "the grid view may
 * now connect to https://api.example.com" before merging.
 */

/** The views of a parsed mcp.json that pass the resource schema (others are the manifest check's business). */
export function viewsOf(manifest: unknown): UiResource[] {
  const raw = (manifest as { resources?: unknown } | null)?.resources;
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((r) => {
    const parsed = uiResourceSchema.safeParse(r);
    return parsed.success ? [parsed.data] : [];
  });
}

const CSP_WORDS = {
  connectDomains: 'connect to',
  resourceDomains: 'load scripts, styles and media from',
  frameDomains: 'frame',
} as const;

type CspKey = keyof typeof CSP_WORDS;

function domains(view: UiResource | undefined, key: CspKey): string[] {
  return view?._meta?.ui.csp?.[key] ?? [];
}

function permissions(view: UiResource | undefined): string[] {
  return Object.keys(view?._meta?.ui.permissions ?? {}).sort();
}

/** What a view may do, one line per kind (for an added view). */
function reach(view: UiResource): string[] {
  const out: string[] = [];
  for (const key of Object.keys(CSP_WORDS) as CspKey[]) {
    const list = domains(view, key);
    if (list.length > 0) out.push(`may ${CSP_WORDS[key]} ${list.join(', ')}`);
  }
  const asks = permissions(view);
  if (asks.length > 0) out.push(`asks for ${asks.join(', ')}`);
  return out.length > 0 ? out : ['reaches no origin (the default CSP)'];
}

/** What changed in a view, one line per change; the widening ones first. */
export function viewChanges(before: UiResource, after: UiResource): string[] {
  const out: string[] = [];
  for (const key of Object.keys(CSP_WORDS) as CspKey[]) {
    const a = new Set(domains(before, key));
    const b = domains(after, key);
    const added = b.filter((d) => !a.has(d));
    const removed = [...a].filter((d) => !b.includes(d));
    if (added.length > 0) out.push(`may now ${CSP_WORDS[key]} ${added.join(', ')}`);
    if (removed.length > 0) out.push(`may no longer ${CSP_WORDS[key]} ${removed.join(', ')}`);
  }
  const pa = new Set(permissions(before));
  const pb = permissions(after);
  const asked = pb.filter((p) => !pa.has(p));
  const dropped = [...pa].filter((p) => !pb.includes(p));
  if (asked.length > 0) out.push(`now asks for ${asked.join(', ')}`);
  if (dropped.length > 0) out.push(`no longer asks for ${dropped.join(', ')}`);
  if (before.source !== after.source) out.push(`source: ${before.source} → ${after.source}`);
  if ((before.title ?? '') !== (after.title ?? '')) out.push(`title: "${before.title ?? ''}" → "${after.title ?? ''}"`);
  return out;
}

/** The views section of the surface diff ('' when neither side has views). */
export function formatViewsDiff(base: readonly UiResource[], head: readonly UiResource[]): string {
  if (base.length === 0 && head.length === 0) return '';
  const before = new Map(base.map((v) => [v.uri, v]));
  const headUris = new Set(head.map((v) => v.uri));
  const lines: string[] = [];
  let added = 0;
  let changed = 0;
  for (const view of head) {
    const old = before.get(view.uri);
    if (!old) {
      added++;
      lines.push(`+ added view \`${view.uri}\` (${view.source}): ${reach(view).join('; ')}`);
      continue;
    }
    const changes = viewChanges(old, view);
    if (changes.length === 0) continue;
    changed++;
    lines.push(`~ changed view \`${view.uri}\`:`);
    for (const change of changes) lines.push(`    - ${change}`);
  }
  const removed = base.filter((v) => !headUris.has(v.uri));
  for (const view of removed) lines.push(`- removed view \`${view.uri}\``);
  const unchanged = head.length - added - changed;
  return [
    `Views: ${added} added, ${removed.length} removed, ${changed} changed, ${unchanged} unchanged`,
    ...lines,
  ].join('\n');
}
