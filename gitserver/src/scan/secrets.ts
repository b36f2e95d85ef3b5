/**
 * Credential scanner shared by the `secrets` check and the pre-receive push protection.
 * It never returns, logs or stores a raw value: every finding carries only `mask(value)`.
 */

/** Stable rule ids. */
export type SecretRule =
  | 'secret-anthropic-key'
  | 'secret-openai-key'
  | 'secret-stripe-key'
  | 'secret-github-token'
  | 'secret-slack-token'
  | 'secret-aws-key'
  | 'secret-npm-token'
  | 'secret-google-api-key'
  | 'secret-sendgrid-key'
  | 'secret-slack-webhook'
  | 'secret-shopify-token'
  | 'secret-linear-key'
  | 'secret-gitlab-token'
  | 'secret-twilio-key'
  | 'secret-url-password'
  | 'secret-jwt'
  | 'secret-private-key'
  | 'secret-high-entropy'
  | 'secret-secretlint';

/** One leaked credential: where it is, which rule, and the masked value (never the raw one). */
export interface SecretFinding {
  path: string;
  /** 1-based line. */
  line: number;
  rule: SecretRule;
  /** What was found, for people: "GitHub token". */
  kind: string;
  /** A short prefix and at most the last two characters, e.g. `ghp_…x9`. */
  masked: string;
}

interface PrefixRule {
  rule: SecretRule;
  kind: string;
  /** Global regex; group 1 (when present) is the value, else the whole match. */
  re: RegExp;
  /** Known prefixes kept visible by mask(), longest first. */
  prefixes: string[];
  /** Extra test on the value (e.g. a key body must mix letters and digits). */
  accept?: (value: string) => boolean;
}

// Token characters never precede a real token's prefix: `xsk-…` or `my_ghp_…` are not tokens.
const B = '(?<![A-Za-z0-9_-])';
const mixed = (value: string) => /[0-9]/.test(value) && /[A-Za-z]/.test(value.replace(/^[a-z]+[-_]/, ''));

const PREFIX_RULES: PrefixRule[] = [
  {
    rule: 'secret-anthropic-key',
    kind: 'Anthropic API key',
    re: new RegExp(`${B}(sk-ant-[A-Za-z0-9_-]{20,})`, 'g'),
    prefixes: ['sk-ant-api03-', 'sk-ant-admin01-', 'sk-ant-'],
    accept: mixed,
  },
  {
    rule: 'secret-openai-key',
    kind: 'OpenAI API key',
    re: new RegExp(`${B}(sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})`, 'g'),
    prefixes: ['sk-proj-', 'sk-svcacct-', 'sk-admin-', 'sk-'],
    accept: mixed,
  },
  {
    rule: 'secret-stripe-key',
    kind: 'Stripe live key',
    re: new RegExp(`${B}((?:sk|rk)_live_[A-Za-z0-9]{10,})`, 'g'),
    prefixes: ['sk_live_', 'rk_live_'],
  },
  {
    rule: 'secret-github-token',
    kind: 'GitHub token',
    re: new RegExp(`${B}(gh[pousr]_[A-Za-z0-9]{36}(?![A-Za-z0-9])|github_pat_[A-Za-z0-9_]{22,})`, 'g'),
    prefixes: ['github_pat_', 'ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'],
  },
  {
    rule: 'secret-slack-token',
    kind: 'Slack token',
    re: new RegExp(`${B}(xox[abposr]-[A-Za-z0-9-]{10,})`, 'g'),
    prefixes: ['xoxa-', 'xoxb-', 'xoxp-', 'xoxo-', 'xoxs-', 'xoxr-'],
    accept: (v) => /[0-9]/.test(v),
  },
  {
    rule: 'secret-aws-key',
    kind: 'AWS access key id',
    re: /(?<![A-Za-z0-9])((?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Za-z0-9])/g,
    prefixes: ['AKIA', 'ASIA'],
  },
  {
    rule: 'secret-npm-token',
    kind: 'npm access token',
    re: new RegExp(`${B}(npm_[A-Za-z0-9]{36})(?![A-Za-z0-9])`, 'g'),
    prefixes: ['npm_'],
    accept: mixed,
  },
  {
    rule: 'secret-google-api-key',
    kind: 'Google API key',
    re: new RegExp(`${B}(AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])`, 'g'),
    prefixes: ['AIza'],
    accept: mixed,
  },
  {
    rule: 'secret-sendgrid-key',
    kind: 'SendGrid API key',
    re: new RegExp(`${B}(SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])`, 'g'),
    prefixes: ['SG.'],
  },
  {
    rule: 'secret-slack-webhook',
    kind: 'Slack webhook URL',
    re: /(https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]{20,})/g,
    prefixes: [
      'https://hooks.slack.com/services/',
      'https://hooks.slack.com/workflows/',
      'https://hooks.slack.com/triggers/',
    ],
    accept: (v) => /[0-9]/.test(v) && /\/[A-Za-z0-9_-]{8,}$/.test(v),
  },
  {
    rule: 'secret-shopify-token',
    kind: 'Shopify access token',
    re: new RegExp(`${B}(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})(?![A-Za-z0-9])`, 'g'),
    prefixes: ['shpat_', 'shpca_', 'shppa_', 'shpss_'],
    accept: mixed,
  },
  {
    rule: 'secret-linear-key',
    kind: 'Linear API key',
    re: new RegExp(`${B}(lin_(?:api|oauth)_[A-Za-z0-9]{40})(?![A-Za-z0-9])`, 'g'),
    prefixes: ['lin_api_', 'lin_oauth_'],
    accept: mixed,
  },
  {
    rule: 'secret-gitlab-token',
    kind: 'GitLab token',
    re: new RegExp(`${B}(gl(?:pat|dt|ptt|rt|soat|ft|imt|cbt|oas|agent)-[A-Za-z0-9_-]{20,})(?![A-Za-z0-9_-])`, 'g'),
    prefixes: ['glpat-', 'gldt-', 'glptt-', 'glrt-', 'glsoat-', 'glft-', 'glimt-', 'glcbt-', 'gloas-', 'glagent-'],
    accept: mixed,
  },
  {
    rule: 'secret-twilio-key',
    kind: 'Twilio API key',
    re: new RegExp(`${B}(SK[0-9a-fA-F]{32})(?![A-Za-z0-9])`, 'g'),
    prefixes: ['SK'],
    accept: mixed,
  },
  {
    rule: 'secret-jwt',
    kind: 'signed token (JWT)',
    re: new RegExp(`${B}(eyJ[A-Za-z0-9_-]{10,}\\.eyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]{16,})`, 'g'),
    prefixes: ['eyJ'],
    accept: isSignedJwt,
  },
  {
    rule: 'secret-url-password',
    kind: 'password in a URL',
    // scheme://user:password@host — group 1 is the password; the user and scheme stay visible.
    re: /(?<![A-Za-z0-9+.-])([a-z][a-z0-9+.-]{1,20}:\/\/[^\s:/@"'`<>{}]{0,64}:)([^\s/@"'`<>]{3,128})(?=@([A-Za-z0-9[][A-Za-z0-9.:[\]-]*))/gi,
    prefixes: [],
    accept: isUrlPassword,
  },
];

/** A JWT whose header decodes to JSON naming a signing algorithm (an unsigned `alg: none` token carries nothing). */
function isSignedJwt(value: string): boolean {
  try {
    const header = JSON.parse(Buffer.from(value.split('.')[0] as string, 'base64url').toString('utf8')) as unknown;
    const alg = typeof header === 'object' && header !== null ? (header as { alg?: unknown }).alg : undefined;
    return typeof alg === 'string' && alg.toLowerCase() !== 'none';
  } catch {
    return false;
  }
}

// Words that docs and examples put where a password goes: `postgres://user:password@localhost`.
const URL_PASSWORD_PLACEHOLDER =
  /^(?:pass(?:word|wd)?|pwd|secret|token|changeme|change[-_]?me|example|test|dummy|placeholder|admin|root|user|guest|xxx+|\*+|\.+)$|^[$%:{<[]|\$\{|\{\{|%[sd(]/i;

// RFC 2606/6761 names no real database lives at: `db.invalid`, `api.example.com`, `host.test`.
const RESERVED_HOST = /(?:^|\.)(?:invalid|test|example|localhost|example\.(?:com|org|net))(?::\d+)?$/i;

/** Whether a URL's host is a reserved name (`.invalid`, `.test`, `example.com`, localhost): no real credential goes there. */
export function isReservedHost(host: string): boolean {
  return RESERVED_HOST.test(host);
}

/** Whether the text between `user:` and `@` in a URL is a real password, not a placeholder or a port. */
function isUrlPassword(value: string): boolean {
  if (/^\d+$/.test(value)) return false; // host:port@… in odd strings
  if (URL_PASSWORD_PLACEHOLDER.test(value) || isRun(value)) return false;
  return !PLACEHOLDER.test(value);
}

const ALL_PREFIXES = PREFIX_RULES.flatMap((r) => r.prefixes).sort((a, b) => b.length - a.length);

/**
 * A masked form of a credential: its known prefix (or its first two characters) and, when the
 * value is long enough that it reveals nothing useful, its last two — `ghp_…x9`. Never the value.
 */
export function mask(value: string): string {
  const pem = /^-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----/.exec(value);
  if (pem) return `${pem[0]}…`;
  const prefix = ALL_PREFIXES.find((p) => value.startsWith(p)) ?? value.slice(0, 2);
  const rest = value.length - prefix.length;
  return rest >= 16 ? `${prefix}…${value.slice(-2)}` : `${prefix}…`;
}

/** `scheme://user:` of a URL with a password, the user masked too when it could be a token itself. */
function maskUrlUser(head: string): string {
  const at = head.indexOf('://') + 3;
  const user = head.slice(at, -1);
  const shown = user.length <= 16 && !ALL_PREFIXES.some((p) => p.length > 2 && user.startsWith(p)) ? user : mask(user);
  return `${head.slice(0, at)}${shown}:…@`;
}

/** Whether bytes look binary: a NUL byte in the first 8000 bytes (git's own heuristic). */
export function looksBinary(bytes: Uint8Array): boolean {
  const end = Math.min(bytes.length, 8000);
  for (let i = 0; i < end; i++) if (bytes[i] === 0) return true;
  return false;
}

const BINARY_EXTENSIONS = new Set(
  (
    'png jpg jpeg gif bmp ico webp avif tif tiff psd heic mp3 mp4 m4a mov avi mkv webm wav flac ogg ' +
    'zip gz tgz bz2 xz 7z rar tar zst jar war class exe dll so dylib o a lib obj bin dat wasm node ' +
    'pdf doc docx xls xlsx ppt pptx woff woff2 ttf otf eot sqlite db pyc iso dmg deb rpm apk'
  ).split(' '),
);

/** Whether a path names a known binary type (images, archives, executables, fonts, office files…). */
export function isBinaryPath(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  const dot = name.lastIndexOf('.');
  return dot > 0 && BINARY_EXTENSIONS.has(name.slice(dot + 1));
}

/** Scans raw file bytes: binary content is skipped (push protection refuses binaries on its own). */
export function scanBytes(path: string, bytes: Uint8Array): SecretFinding[] {
  if (looksBinary(bytes)) return [];
  return scanText(path, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
}

/** Every credential in a text file, by line, masked. */
export function scanText(path: string, text: string): SecretFinding[] {
  const findings: SecretFinding[] = [];
  const lines = text.split('\n');
  const config = isConfigPath(path);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const spans: [number, number][] = [];
    for (const rule of PREFIX_RULES) {
      for (const m of line.matchAll(rule.re)) {
        const password = rule.rule === 'secret-url-password';
        const value = (password ? m[2] : m[1]) ?? m[0];
        if (isRun(value) || (rule.accept && !rule.accept(value))) continue;
        if (password && RESERVED_HOST.test(m[3] ?? '')) continue; // a test fixture or a doc example
        const start = (m.index ?? 0) + m[0].lastIndexOf(value);
        spans.push([start, start + value.length]);
        // A URL's password shows none of its characters: `postgres://app:…@`.
        const masked = password ? maskUrlUser(m[1] as string) : mask(value);
        findings.push({ path, line: i + 1, rule: rule.rule, kind: rule.kind, masked });
      }
    }
    for (const hit of credentialAssignments(line, config)) {
      if (spans.some(([s, e]) => hit.start < e && s < hit.end)) continue; // already named by a prefix rule
      findings.push({
        path,
        line: i + 1,
        rule: 'secret-high-entropy',
        kind: `high-entropy value of "${hit.name}"`,
        masked: mask(hit.value),
      });
    }
  }
  for (const m of text.matchAll(PRIVATE_KEY)) {
    const line = text.slice(0, m.index).split('\n').length;
    findings.push({ path, line, rule: 'secret-private-key', kind: 'private key', masked: mask(m[0]) });
  }
  return findings.sort((a, b) => a.line - b.line);
}

// A header alone (a parser testing `startsWith('-----BEGIN PRIVATE KEY-----')`) is not a key: a
// base64 body must follow, on the next line or after a `\n` escape inside a string literal.
const PRIVATE_KEY =
  /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:\r?\n|\\(?:r\\)?n|\s)+(?:[A-Za-z0-9-]+: [^\n]*?(?:\r?\n|\\n)+)*[A-Za-z0-9+/=]{40,}/g;

/** Six or more identical characters in a row: `sk-xxxxxxxx…`, `ghp_000000…` are placeholders. */
function isRun(value: string): boolean {
  return /(.)\1{5,}/.test(value);
}

// --- high-entropy assignments -------------------------------------------------------------

interface Assignment {
  name: string;
  value: string;
  start: number;
  end: number;
}

// `name = "v"`, `name: 'v'`, `"name": "v"`, `NAME := "v"`, `name => "v"`; the value has no spaces
// except an optional auth scheme (`Bearer abc…`), which is dropped before scoring.
const QUOTED =
  /(?<![A-Za-z0-9_$])["']?([A-Za-z_$][\w$.-]*)["']?\s*(?::=|=>|===?|:|=)\s*(["'`])((?:Bearer |Basic |Token |token )?[^\s"'`]{20,})\2/g;
// Config files (.env, YAML, INI, TOML): `NAME=value` / `name: value` without quotes, to the line end.
const UNQUOTED = /^\s*(?:export\s+)?["']?([A-Za-z_][\w.-]*)["']?\s*(?:=|:)\s*([^\s"'`#]{20,})\s*(?:#.*)?$/;

const CREDENTIAL_WORDS = new Set([
  'token',
  'tokens',
  'secret',
  'secrets',
  'password',
  'passwd',
  'passphrase',
  'pwd',
  'auth',
  'authorization',
  'credential',
  'credentials',
  'apikey',
  'bearer',
  'jwt',
]);
const KEY_QUALIFIERS = new Set([
  'api',
  'access',
  'secret',
  'private',
  'signing',
  'client',
  'encryption',
  'master',
  'app',
  'auth',
  'license',
  'webhook',
]);
// A name ending in one of these holds metadata about a credential, not the credential.
const METADATA_WORDS = new Set([
  'name',
  'names',
  'id',
  'ids',
  'url',
  'uri',
  'endpoint',
  'host',
  'path',
  'file',
  'header',
  'type',
  'kind',
  'field',
  'env',
  'var',
  'hash',
  'digest',
  'checksum',
  'integrity',
  'fingerprint',
  'sha',
  'sha1',
  'sha256',
  'sha512',
  'length',
  'count',
  'expiry',
  'expires',
  'ttl',
  'prefix',
  'pattern',
  'regex',
  'label',
  'description',
  'scope',
  'scopes',
  'param',
  'placeholder',
  'hint',
]);

/** Splits `clientSecret`, `CLIENT_SECRET`, `client-secret`, `config.apiKey` into lowercase words. */
function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

/** Whether a variable/property name says it holds a credential. */
function isCredentialName(name: string): boolean {
  const w = words(name);
  const last = w[w.length - 1];
  if (last === undefined || METADATA_WORDS.has(last)) return false;
  if (w.some((word) => CREDENTIAL_WORDS.has(word))) return true;
  // `key` alone is everywhere (React keys, map keys, cache keys): only `apiKey`, `secretKey`, `api_key`…
  return w.some((word, i) => word === 'key' && i > 0 && KEY_QUALIFIERS.has(w[i - 1] as string));
}

const PLACEHOLDER =
  /\$\{|\{\{|<[^>]*>|x{4}|X{4}|\*{3}|\.{3}|your[-_ ]|example|changeme|change[-_]me|placeholder|dummy|redacted|replace[-_]?me|process\.env|import\.meta/i;

/** Shannon entropy of a string, in bits per character. */
export function shannonEntropy(value: string): number {
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / value.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** Whether a value assigned to a credential-named variable looks like a real, random credential. */
function looksLikeCredential(value: string): boolean {
  if (value.length < 20 || PLACEHOLDER.test(value) || isRun(value)) return false;
  if (/^[A-Z][A-Z0-9_]*$/.test(value)) return false; // an env/secret NAME, e.g. STRIPE_API_KEY
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !/:\/\/[^/@\s]+:[^/@\s]+@/.test(value)) return false; // a URL without user:password
  if (/^[./~]|\.(?:ts|js|json|md|txt|html)$/.test(value)) return false; // a path
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((re) => re.test(value)).length;
  // Random base64/base62/hex of 20+ characters scores >= 3.5 bits per char; words and paths score less.
  return classes >= 2 && shannonEntropy(value) >= 3.5;
}

function credentialAssignments(line: string, config: boolean): Assignment[] {
  if (line.length > 4000) return []; // minified bundles and data blobs: prefix rules still apply
  const out: Assignment[] = [];
  for (const m of line.matchAll(QUOTED)) {
    const name = m[1] as string;
    const raw = m[3] as string;
    const value = raw.replace(/^(?:Bearer|Basic|Token|token) /, '');
    if (!isCredentialName(name) || !looksLikeCredential(value)) continue;
    const start = (m.index ?? 0) + m[0].lastIndexOf(raw) + (raw.length - value.length);
    out.push({ name, value, start, end: start + value.length });
  }
  if (config && out.length === 0) {
    const m = UNQUOTED.exec(line);
    if (m && isCredentialName(m[1] as string) && looksLikeCredential(m[2] as string)) {
      const value = m[2] as string;
      const start = line.lastIndexOf(value);
      out.push({ name: m[1] as string, value, start, end: start + value.length });
    }
  }
  return out;
}

/** `.env`, `.env.local`, YAML, INI, TOML, properties, Dockerfile: files where values go unquoted. */
function isConfigPath(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  return (
    name.startsWith('.env') ||
    name.endsWith('.env') ||
    name === 'dockerfile' ||
    name === '.npmrc' ||
    /\.(?:ya?ml|ini|toml|properties|cfg|conf)$/.test(name)
  );
}
