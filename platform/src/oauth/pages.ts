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

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;color:#111;background:#fafafa}
main{max-width:26rem;margin:10vh auto;padding:2rem;background:#fff;border:1px solid #e5e5e5;border-radius:8px}
h1{font-size:1.15rem;margin:0 0 1rem}p{margin:.5rem 0}.muted{color:#666;font-size:.9rem}
label{display:block;margin:.75rem 0 .25rem;font-size:.9rem}input[type=email],input[type=password]{width:100%;padding:.5rem;border:1px solid #ccc;border-radius:6px;font:inherit}
button{margin-top:1rem;padding:.5rem 1rem;border-radius:6px;border:1px solid #111;background:#111;color:#fff;font:inherit;cursor:pointer}
button.secondary{background:#fff;color:#111;border-color:#ccc}.row{display:flex;gap:.5rem}.error{color:#b00020}
ul{padding-left:1.2rem}code{font:13px ui-monospace,monospace;background:#f3f3f3;padding:0 .25rem;border-radius:4px}
`;

/** A whole page around `body` (already escaped HTML). */
export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer"><title>${esc(title)} · BuildMyMCPServer</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

/** Security headers every page of the authorization server carries (no framing: consent must not be clickjacked). */
export const PAGE_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
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
