/**
 * The Content-Security-Policy a host puts on an MCP Apps view, from the view's `_meta.ui.csp`: nothing beyond the
 * view's own inline code (it is one built file) unless declared. The platform applies it wherever it shows a view —
 * the `views` check's headless browser and the change review page (the API serves the view with it) — and the
 * browser test holds it to what hosts do. No imports: the browser host bundles it too.
 */

/** The `_meta.ui.csp` of a view: origins it may connect to, load resources from, and frame. */
export interface ViewCsp {
  connectDomains?: string[];
  resourceDomains?: string[];
  frameDomains?: string[];
}

/** The policy for a view: `default-src 'none'`, its inline code, and the origins its CSP declares. */
export function hostCsp(csp: ViewCsp = {}): string {
  const list = (origins: string[] | undefined, fallback: string) =>
    origins && origins.length > 0 ? origins.join(' ') : fallback;
  const resources = (csp.resourceDomains ?? []).join(' ');
  return [
    "default-src 'none'",
    `script-src 'unsafe-inline' ${resources}`.trim(),
    `style-src 'unsafe-inline' ${resources}`.trim(),
    `img-src data: ${resources}`.trim(),
    `font-src ${list(csp.resourceDomains, "'none'")}`,
    `media-src ${list(csp.resourceDomains, "'none'")}`,
    `connect-src ${list(csp.connectDomains, "'none'")}`,
    `frame-src ${list(csp.frameDomains, "'none'")}`,
    "base-uri 'none'",
  ].join('; ');
}

/** The view's HTML with `head` (the policy as a meta element, a reporter) as the first thing in its head. */
export function withHead(html: string, head: string): string {
  return /<head[^>]*>/i.test(html) ? html.replace(/<head[^>]*>/i, (tag) => `${tag}${head}`) : `${head}${html}`;
}

/** The console marker of a CSP violation the browser host reports from inside a view. */
export const CSP_MARKER = '[bmms-view-csp]';

/** What the browser host is asked to do for one view. */
export interface PlayHostOptions {
  html: string;
  csp?: ViewCsp;
  /** The tool's arguments, delivered before its result. */
  input?: Record<string, unknown>;
  /** The tool result delivered once the view completed the handshake; none when no tool opens the view. */
  result?: Record<string, unknown>;
  /** How long the view may take to complete the handshake. */
  timeoutMs: number;
}
