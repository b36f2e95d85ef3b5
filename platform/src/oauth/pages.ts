import { createHash } from 'node:crypto';

/** Server-rendered pages of the authorization server: plain HTML, no script, quiet styling. */

/** Escapes text for HTML element content and attribute values. */
export function esc(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** The site's look (dark by default, light with the system setting; one indigo accent), inline: no script. */
const STYLE = `
:root{color-scheme:dark light;--bg:#0a0a0b;--card:#111113;--fg:#fafafa;--muted:#a1a1aa;--border:#1f1f22;--strong:#34343a;--accent:#4f46e5;--focus:#818cf8;--error:#f87171}
@media (prefers-color-scheme:light){:root{--bg:#fafafa;--card:#fff;--fg:#0a0a0b;--muted:#55555d;--border:#e5e5e8;--strong:#d0d0d6;--focus:#4f46e5;--error:#b91c1c}}
*{box-sizing:border-box}body{margin:0;font:14px/1.5 "Geist Variable",ui-sans-serif,system-ui,-apple-system,Segoe UI,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:26rem;margin:10vh auto;padding:16px;background:var(--card);border:1px solid var(--border);border-radius:8px}
h1{font-size:1.15rem;margin:0 0 12px;letter-spacing:-.01em}p{margin:.5rem 0}.muted{color:var(--muted);font-size:13px}
label{display:block;margin:12px 0 4px;font-weight:500}input[type=email],input[type=password]{width:100%;padding:7px 10px;border:1px solid var(--strong);border-radius:6px;font:inherit;color:inherit;background:var(--bg)}
button{margin-top:12px;padding:6px 12px;min-height:32px;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;font:inherit;font-weight:500;cursor:pointer}
button.secondary{background:transparent;color:var(--fg);border-color:var(--strong)}.row{display:flex;gap:8px}.error{color:var(--error)}
:focus-visible{outline:2px solid var(--focus);outline-offset:2px}
ul{padding-left:1.2rem}code{font:13px "Geist Mono Variable",ui-monospace,monospace;background:var(--bg);border:1px solid var(--border);padding:0 .25rem;border-radius:4px}
`;

/** A whole page around `body` (already escaped HTML). */
export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer"><title>${esc(title)} · BuildMyMCPServer</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

/** Security headers every page of the authorization server carries (no framing: consent must not be clickjacked). */
export const PAGE_HEADERS: Record<string, string> = {
  // The one inline stylesheet by its hash: nothing else may style, script or frame these pages.
  'Content-Security-Policy': `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; frame-ancestors 'none'; base-uri 'none'`,
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
};

export interface LoginView {
  action: string;
  csrf: string;
  client: string;
  server: string | undefined;
  email?: string;
  error?: string;
  externalAction?: string;
  externalName?: string;
  /** The platform session's user, offered as "Continue as …". */
  sessionAction?: string;
  sessionEmail?: string;
}

export function loginPage(v: LoginView): string {
  const external = v.externalAction
    ? `<form method="post" action="${esc(v.externalAction)}"><input type="hidden" name="csrf" value="${esc(v.csrf)}"><button class="secondary" type="submit">Sign in with ${esc(v.externalName ?? 'your company account')}</button></form>`
    : '';
  const session =
    v.sessionAction && v.sessionEmail
      ? `<form method="post" action="${esc(v.sessionAction)}"><input type="hidden" name="csrf" value="${esc(v.csrf)}"><button type="submit">Continue as ${esc(v.sessionEmail)}</button></form><p class="muted">or sign in with another account:</p>`
      : '';
  return page(
    'Sign in',
    `<h1>Sign in to connect ${esc(v.client)}</h1>
${v.server ? `<p class="muted">to the MCP server <code>${esc(v.server)}</code></p>` : ''}
${v.error ? `<p class="error" role="alert">${esc(v.error)}</p>` : ''}
${session}<form method="post" action="${esc(v.action)}" autocomplete="on">
<input type="hidden" name="csrf" value="${esc(v.csrf)}">
<label for="email">Email</label><input id="email" name="email" type="email" required autofocus value="${esc(v.email ?? '')}">
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button>
</form>${external}`,
  );
}

export interface ConsentView {
  action: string;
  abortAction: string;
  csrf: string;
  client: string;
  clientUri: string | undefined;
  redirectHost: string;
  server: string;
  org: string;
  scopes: { name: string; description: string }[];
  user: string;
}

export function consentPage(v: ConsentView): string {
  const scopes = v.scopes.map((s) => `<li><code>${esc(s.name)}</code> — ${esc(s.description)}</li>`).join('');
  return page(
    'Allow access',
    `<h1>Allow ${esc(v.client)} to use <code>${esc(v.server)}</code>?</h1>
<p class="muted">Signed in as ${esc(v.user)}. The server belongs to ${esc(v.org)}.</p>
<p>${esc(v.client)}${v.clientUri ? ` (${esc(v.clientUri)})` : ''} will be able to:</p>
<ul>${scopes}</ul>
<p class="muted">After you allow it, you return to <code>${esc(v.redirectHost)}</code>. You can revoke access at any time.</p>
<div class="row">
<form method="post" action="${esc(v.action)}"><input type="hidden" name="csrf" value="${esc(v.csrf)}"><button type="submit">Allow</button></form>
<form method="post" action="${esc(v.abortAction)}"><input type="hidden" name="csrf" value="${esc(v.csrf)}"><button class="secondary" type="submit">Deny</button></form>
</div>`,
  );
}

export function messagePage(
  title: string,
  message: string,
  form?: { action: string; csrf: string; label: string },
): string {
  const button = form
    ? `<form method="post" action="${esc(form.action)}"><input type="hidden" name="csrf" value="${esc(form.csrf)}"><button class="secondary" type="submit">${esc(form.label)}</button></form>`
    : '';
  return page(title, `<h1>${esc(title)}</h1><p>${esc(message)}</p>${button}`);
}
