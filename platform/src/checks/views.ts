import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type BuiltView, buildView, ViewBuildError } from '@bmms/reconciler';
import { egressRefusal, type Manifest, type UiResource } from '@bmms/runner-template';
import type { Finding, JsonPath } from './types.ts';

/**
 * The manifest check's rules for MCP Apps views: each `ui://` resource builds from the repo into one HTML file
 * (within the size budget), its `connectDomains` are hosts the server may reach anyway (the egress allowlist),
 * and the scripts and stylesheets it loads from elsewhere come from origins its CSP declares.
 */

/** Most bytes one built view may take: hosts load it into every conversation that shows it. */
export const VIEW_BUDGET_BYTES = 256 * 1024;

/** Whether an origin of a view's CSP is inside the egress allowlist (the shared egress policy decides). */
export function originInEgress(origin: string, egress: readonly string[]): boolean {
  const url = URL.parse(`${origin.replace(/^wss:/, 'https:')}/`);
  return url !== null && egressRefusal(url, egress) === null;
}

/** Whether `url` (a remote script or stylesheet) is covered by one of the CSP's `resourceDomains`. */
function declaredResource(url: string, domains: readonly string[]): boolean {
  const parsed = URL.parse(url.startsWith('//') ? `https:${url}` : url);
  if (parsed === null) return false;
  return domains.some((domain) => {
    const [scheme, host] = domain.split('://') as [string, string];
    if (`${scheme}:` !== parsed.protocol) return false;
    if (host.startsWith('*.')) return parsed.host.endsWith(host.slice(1)) && parsed.host !== host.slice(2);
    return parsed.host === host;
  });
}

const SCRIPT = /\.(?:[cm]?ts|tsx|[cm]?js)$/;

type Locate = (p: JsonPath) => { line?: number };

function cspFindings(resource: UiResource, index: number, manifest: Manifest, at: Locate): Finding[] {
  const out: Finding[] = [];
  for (const [i, origin] of (resource._meta?.ui.csp?.connectDomains ?? []).entries()) {
    if (originInEgress(origin, manifest.egress)) continue;
    const host = origin.replace(/^[a-z]+:\/\//, '');
    out.push({
      file: 'mcp.json',
      ...at(['resources', index, '_meta', 'ui', 'csp', 'connectDomains', i]),
      rule: 'view-connect-not-in-egress',
      message: `resources[${index}] (${resource.uri}): the view may connect to "${origin}", which is not in egress; a view must reach no host the server itself was not reviewed to reach`,
      fix: `add "${host}" to egress, or remove "${origin}" from connectDomains (and fetch through a tool instead)`,
    });
  }
  return out;
}

/** The CSP's origins of every kind: what the view's scripts may name. */
function declaredOrigins(resource: UiResource): string[] {
  const csp = resource._meta?.ui.csp;
  return [...(csp?.connectDomains ?? []), ...(csp?.resourceDomains ?? []), ...(csp?.frameDomains ?? [])];
}

const URL_LITERAL = /["'`]((?:https?|wss?):\/\/[^/"'`\s?#$]+)/g;

/**
 * Origins the view's own scripts name in string literals that its CSP does not declare: the host would block the
 * request anyway, and the check says so before a reviewer (or a user) finds out.
 */
async function undeclaredUrlFindings(dir: string, view: BuiltView, resource: UiResource): Promise<Finding[]> {
  const out: Finding[] = [];
  const declared = declaredOrigins(resource);
  for (const file of view.inlined.filter((f) => SCRIPT.test(f))) {
    const text = await readFile(path.join(dir, file), 'utf8');
    const lines = text.split('\n');
    for (const [i, lineText] of lines.entries()) {
      for (const m of lineText.matchAll(URL_LITERAL)) {
        const origin = (m[1] as string).toLowerCase();
        if (declared.some((d) => originMatches(d, origin))) continue;
        out.push({
          file,
          line: i + 1,
          rule: 'view-undeclared-origin',
          message: `${resource.uri} names "${origin}", an origin its CSP does not declare; hosts block the view's requests there`,
          fix: `add "${origin}" to _meta.ui.csp.connectDomains (and its host to egress), or fetch the data through a tool`,
        });
      }
    }
  }
  return out;
}

/** Whether a CSP entry (`https://api.example.com`, `https://*.example.com`) covers `origin`. */
function originMatches(entry: string, origin: string): boolean {
  if (entry === origin) return true;
  const [scheme, host] = entry.split('://') as [string, string];
  const [oScheme, oHost] = origin.split('://') as [string, string];
  return scheme === oScheme && host.startsWith('*.') && oHost.endsWith(host.slice(1));
}

function builtFindings(view: BuiltView, resource: UiResource): Finding[] {
  const out: Finding[] = [];
  const domains = resource._meta?.ui.csp?.resourceDomains ?? [];
  for (const url of view.remote) {
    if (declaredResource(url, domains)) continue;
    out.push({
      file: resource.source,
      rule: 'view-undeclared-origin',
      message: `${resource.uri} loads "${url}" from an origin its CSP does not declare; hosts block it, and an undeclared script is code nobody reviewed`,
      fix: 'bundle the script or stylesheet into the repo (ui/), or add its origin to _meta.ui.csp.resourceDomains',
    });
  }
  if (view.bytes > VIEW_BUDGET_BYTES) {
    // The built file is what is too big: no line of mcp.json (nor of the HTML) is where the bytes are.
    out.push({
      file: resource.source,
      rule: 'view-over-budget',
      message: `${resource.uri} builds to ${Math.round(view.bytes / 1024)} KiB, over the ${VIEW_BUDGET_BYTES / 1024} KiB budget of a view; hosts load it into every conversation that shows it`,
      fix: 'import less (the bridge is @bmms/runner-template/view, a few KiB), drop unused code or split the view',
    });
  }
  return out;
}

/** Findings about the manifest's views, and one summary line per view built (`ui://…: 12.3 KiB of 256 KiB`). */
export async function viewFindings(
  dir: string,
  manifest: Manifest,
  at: Locate,
): Promise<{ findings: Finding[]; built: string[] }> {
  const findings: Finding[] = [];
  const built: string[] = [];
  for (const [index, resource] of manifest.resources.entries()) {
    findings.push(...cspFindings(resource, index, manifest, at));
    try {
      const view = await buildView(dir, resource);
      built.push(
        `${resource.uri} (${resource.source}): ${(view.bytes / 1024).toFixed(1)} KiB of ${VIEW_BUDGET_BYTES / 1024} KiB`,
      );
      findings.push(...builtFindings(view, resource));
      findings.push(...(await undeclaredUrlFindings(dir, view, resource)));
    } catch (err) {
      if (!(err instanceof ViewBuildError)) throw err;
      // err.lines name the file and line that did not build; mcp.json's line would pass for one of the HTML's.
      findings.push({
        file: resource.source,
        rule: 'view-build-failed',
        message: `${resource.uri} does not build into one HTML file: ${err.lines.join('; ')}`,
        fix: `make ${resource.source} and the scripts and stylesheets it names (relative paths under ui/) build`,
      });
    }
  }
  return { findings, built };
}
