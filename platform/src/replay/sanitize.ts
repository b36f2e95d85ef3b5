/**
 * What a recording may keep of a call: values are copied with every secret value of the server, every
 * credential-looking string and every field named like a credential replaced by a marker. Applied before a
 * recording is sealed, and to the preview's answers before they are compared with it (so both read alike).
 */

/** Field names whose values are never kept (`Authorization`, `api_key`, `password`, `x-api-token`…). */
const SENSITIVE_NAME =
  /(authori[sz]ation|cookie|passw(or)?d|secret|token|api[-_]?key|apikey|credential|session|signature|private[-_]?key)/i;

/** Strings that look like credentials wherever they appear. */
const TOKEN_PATTERNS: readonly RegExp[] = [
  /\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g,
  /\b(bmms|sk|pk|rk|ghp|gho|ghu|ghs|ghr|github_pat|xox[abprs]|glpat|npm|shpat|whsec|AKIA|ASIA)[-_][A-Za-z0-9_-]{8,}/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
];

/** A long run of letters and digits that mixes both: a key or a token more likely than a word. */
const OPAQUE = /\b[A-Za-z0-9_+/=-]{32,}\b/g;

/** The marker a secret value becomes. */
export const SECRET_MARK = '[secret]';
/** The marker a credential-looking string or a credential field's value becomes. */
export const TOKEN_MARK = '[token]';

/** Replaces secrets and credential-looking substrings of one string. */
export function sanitizeText(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first: a secret containing another is replaced whole.
  for (const value of [...secrets].sort((a, b) => b.length - a.length)) {
    if (value.length >= 4) out = out.split(value).join(SECRET_MARK);
  }
  for (const pattern of TOKEN_PATTERNS) out = out.replace(pattern, TOKEN_MARK);
  return out.replace(OPAQUE, (run) => (/[0-9]/.test(run) && /[A-Za-z]/.test(run) ? TOKEN_MARK : run));
}

/** A JSON value with every string sanitized and the values of credential-named fields replaced. */
export function sanitizeValue(value: unknown, secrets: readonly string[]): unknown {
  if (typeof value === 'string') return sanitizeText(value, secrets);
  if (Array.isArray(value)) return value.map((v) => sanitizeValue(v, secrets));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      out[sanitizeText(key, secrets)] =
        SENSITIVE_NAME.test(key) && v !== null && v !== '' ? TOKEN_MARK : sanitizeValue(v, secrets);
    }
    return out;
  }
  return value;
}

/** A URL with credential-named query parameters and user info dropped, the rest sanitized. */
export function sanitizeUrl(raw: string, secrets: readonly string[]): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return sanitizeText(raw, secrets);
  }
  url.username = '';
  url.password = '';
  for (const key of [...new Set(url.searchParams.keys())]) {
    if (SENSITIVE_NAME.test(key)) url.searchParams.set(key, TOKEN_MARK);
  }
  return sanitizeText(url.toString(), secrets);
}

/** Response headers worth keeping for a replay (content type and the like), never one that carries a credential. */
export function sanitizeHeaders(
  headers: Record<string, string | string[] | undefined>,
  secrets: readonly string[],
): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || SENSITIVE_NAME.test(name) || name === 'set-cookie' || name === 'www-authenticate')
      continue;
    if (!['content-type', 'content-language', 'etag', 'last-modified', 'location', 'retry-after'].includes(name))
      continue;
    kept[name] = sanitizeText(Array.isArray(value) ? value.join(', ') : value, secrets);
  }
  return kept;
}

/** A body as text, sanitized: JSON field by field, anything else as a string. */
export function sanitizeBody(text: string, secrets: readonly string[]): string {
  try {
    return JSON.stringify(sanitizeValue(JSON.parse(text), secrets));
  } catch {
    return sanitizeText(text, secrets);
  }
}
