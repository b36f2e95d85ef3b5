import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildViews, ViewBuildError } from '@bmms/reconciler';
import { type Manifest, parseManifest, type UiResource } from '@bmms/runner-template';
import { browserUnavailable, CHROMIUM_PATH, openViews, type ViewReport, type ViewToOpen } from '../views/browser.ts';
import { sampleOf, sampleResult } from '../views/sample.ts';
import { type Check, type CheckOutcome, type Finding, outcomeOf } from './types.ts';

/**
 * `views`: each MCP Apps view of the tree, built as a deploy builds it, is opened in headless Chromium with the
 * platform playing host (sandboxed iframe, the CSP its `_meta.ui.csp` declares, the official AppBridge) and handed a
 * tool input and result made up from the tool's schemas (no tool runs), once for each tool that opens it (at most
 * four: a view fed by several tools renders each one's result). A script error or a CSP violation fails the
 * check, naming the view and the tool. Runs once the static checks passed (the view's code was vetted); skipped, saying why, when
 * the tree has no view or the platform has no Chromium.
 */
export function viewsCheck(after: string[], executable = CHROMIUM_PATH): Check {
  return {
    name: 'views',
    after,
    timeoutMs: 120_000,
    async run({ dir, signal, progress }): Promise<CheckOutcome> {
      const manifest = await manifestOf(dir);
      if (!manifest) return skipped('mcp.json does not parse (the manifest check says why): no view was opened');
      // Nothing to open is a pass (a server without views is complete), not a check that could not run.
      if (manifest.resources.length === 0) {
        const summary = 'mcp.json declares no views (ui:// resources): nothing to open';
        return { conclusion: 'success', summary, log: `${summary}\n` };
      }
      const missing = browserUnavailable(executable);
      if (missing) return skipped(`views not opened in a browser: ${missing}`);
      let toOpen: Opening[];
      try {
        toOpen = await viewsToOpen(dir, manifest);
      } catch (err) {
        if (!(err instanceof ViewBuildError)) throw err;
        return { conclusion: 'failure', summary: err.lines.join('\n'), log: `${err.lines.join('\n')}\n` };
      }
      progress?.(`opening ${manifest.resources.length} view(s) in Chromium`);
      const reports = await openViews(
        toOpen.map((o) => o.view),
        { executable, signal },
      );
      return outcomeOfReports(manifest, toOpen, reports);
    },
  };
}

async function manifestOf(dir: string): Promise<Manifest | null> {
  try {
    return parseManifest(await readFile(path.join(dir, 'mcp.json'), 'utf8'));
  } catch {
    return null;
  }
}

function skipped(summary: string): CheckOutcome {
  return { conclusion: 'skipped', summary, log: `${summary}\n` };
}

/** Tools of one view opened with their own results; more are not tried (each opening costs a page). */
const MAX_TOOLS_PER_VIEW = 4;

/** One opening of a view: with the sample result of one tool that opens it, or with none when no tool does. */
interface Opening {
  resource: UiResource;
  tool: Manifest['tools'][number] | undefined;
  /** How many tools open this view (their names go into findings only when there are several). */
  feeders: number;
  view: ViewToOpen;
}

/** Each view built, opened once per tool that opens it (with that tool's sample input and result). */
async function viewsToOpen(dir: string, manifest: Manifest): Promise<Opening[]> {
  const built = await buildViews(dir, manifest.resources);
  return manifest.resources.flatMap((resource, i) => {
    const feeding = manifest.tools.filter((t) => t._meta?.ui.resourceUri === resource.uri);
    const csp = resource._meta?.ui.csp;
    const html = (built[i] as { html: string }).html;
    const tools = feeding.length > 0 ? feeding.slice(0, MAX_TOOLS_PER_VIEW) : [undefined];
    return tools.map((tool) => ({
      resource,
      tool,
      feeders: feeding.length,
      view: {
        uri: resource.uri,
        html,
        ...(csp ? { csp } : {}),
        ...(tool
          ? {
              input: sampleOf(tool.inputSchema, 'arguments') as Record<string, unknown>,
              result: sampleResult(tool.outputSchema as Record<string, unknown> | undefined),
            }
          : {}),
      },
    }));
  });
}

function outcomeOfReports(manifest: Manifest, opened: Opening[], reports: ViewReport[]): CheckOutcome {
  const findings: Finding[] = [];
  const lines: string[] = [];
  for (const [i, report] of reports.entries()) {
    const { resource, tool, feeders } = opened[i] as Opening;
    findings.push(...findingsOf(resource, report, feeders > 1 ? tool?.name : undefined));
    const fed = tool ? `a sample result of ${tool.name}` : 'no result (no tool opens it)';
    const handshake = report.initialized
      ? ''
      : '; it did not complete the ui/initialize handshake, so it was handed nothing';
    lines.push(
      `${resource.uri} (${resource.source}): opened with ${fed}: ${report.errors.length} script error(s), ${report.violations.length} CSP violation(s)${handshake}${report.unresponsive ? `; ${report.unresponsive}` : ''}`,
    );
    const result = opened[i]?.view.result;
    if (result)
      lines.push(`  result shown: ${JSON.stringify(result.structuredContent ?? result.content).slice(0, 400)}`);
  }
  const openings =
    reports.length > manifest.resources.length ? ` (${reports.length} openings: one per tool that feeds a view)` : '';
  const ok = `${manifest.resources.length} view(s) opened in headless Chromium under their CSP${openings}: no script error, no CSP violation`;
  const outcome = outcomeOf(findings, ok);
  return { ...outcome, log: `${lines.join('\n')}\n${outcome.log}` };
}

function findingsOf(resource: UiResource, report: ViewReport, tool: string | undefined): Finding[] {
  const fed = tool ? ` (handed a result of ${tool})` : '';
  const errors = [...new Set(report.errors)].map((error) => ({
    file: resource.source,
    rule: 'view-script-error',
    message: `${resource.uri} threw in the browser${fed}: ${error}`,
    fix: "fix the view's script; the check's log shows the sample result it was handed (made up from the tool's outputSchema)",
  }));
  const violations = [...new Set(report.violations)].map((violation) => {
    const [directive = '', blocked = 'inline'] = violation.split(' ');
    return {
      file: resource.source,
      rule: 'view-csp-violation',
      message: `${resource.uri}: the browser blocked ${blocked} (${directive}) under the CSP the view declares; hosts block it too`,
      fix: 'declare the origin in _meta.ui.csp (connectDomains for fetch and WebSocket, resourceDomains for scripts, styles, images and fonts, frameDomains for frames), or bundle what it loads into ui/',
    };
  });
  const stuck = report.unresponsive
    ? [
        {
          file: resource.source,
          rule: 'view-unresponsive',
          message: `${resource.uri} stopped answering in the browser: ${report.unresponsive}`,
          fix: "a host's page freezes with it: render what the view is handed in bounded time and memory (the check's log shows the sample result)",
        },
      ]
    : [];
  return [...errors, ...violations, ...stuck];
}
