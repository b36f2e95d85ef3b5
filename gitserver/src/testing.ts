/**
 * Test support, exported as `@bmms/gitserver/testing` for other workspaces' tests (never imported by `src`).
 * One realistic fake sample per credential format the scanner must catch, assembled at run time
 * from a seeded generator so no source file holds a token-shaped literal. Shared by the scanner,
 * push-protection, `secrets` check and prompt-guard tests.
 */

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const HEX = '0123456789abcdef';

/** Deterministic characters (a linear congruential generator): the same samples on every run. */
function chars(seed: number, n: number, alphabet = ALNUM): string {
  let x = seed >>> 0;
  let out = '';
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out += alphabet[(x >>> 16) % alphabet.length];
  }
  return out;
}

const b64url = (value: string) => Buffer.from(value).toString('base64url');

/** A credential format, its sample, the rule of ours that names it, and how a file might hold it. */
export interface CredentialSample {
  format: string;
  value: string;
  rule: string;
  /** A file line that holds the value the way code or config would. */
  line: string;
}

function sample(
  format: string,
  rule: string,
  value: string,
  line = `const client = connect(${JSON.stringify(value)});`,
) {
  return { format, rule, value, line };
}

const jwt = [
  b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' })),
  b64url(JSON.stringify({ sub: 'svc-billing', iat: 1767225600, scope: 'admin' })),
  chars(12, 43, `${ALNUM}-_`),
].join('.');

const pem = [
  '-----BEGIN RSA PRIVATE KEY-----',
  ...Array.from({ length: 4 }, (_, i) => chars(100 + i, 64, `${ALNUM}+/`)),
  '-----END RSA PRIVATE KEY-----',
].join('\n');

/** Every format the issue lists, plus the ones caught before. */
export const CREDENTIAL_SAMPLES: CredentialSample[] = [
  sample('OpenAI', 'secret-openai-key', `sk-proj-${chars(1, 48, `${ALNUM}_-`)}`),
  sample('Anthropic', 'secret-anthropic-key', `sk-ant-api03-${chars(2, 93, `${ALNUM}_-`)}AA`),
  sample('npm', 'secret-npm-token', `npm_${chars(3, 36)}`, `//registry.npmjs.org/:_authToken=npm_${chars(3, 36)}`),
  sample('Google API key', 'secret-google-api-key', `AIza${chars(4, 35, `${ALNUM}_-`)}`),
  sample('SendGrid', 'secret-sendgrid-key', `SG.${chars(5, 22, `${ALNUM}_-`)}.${chars(6, 43, `${ALNUM}_-`)}`),
  sample(
    'Slack webhook URL',
    'secret-slack-webhook',
    `https://hooks.slack.com/services/T${chars(7, 8, UPPER)}/B${chars(8, 10, UPPER)}/${chars(9, 24)}`,
  ),
  sample('Shopify', 'secret-shopify-token', `shpat_${chars(10, 32, HEX)}`),
  sample('Linear', 'secret-linear-key', `lin_api_${chars(11, 40)}`),
  sample('GitLab', 'secret-gitlab-token', `glpat-${chars(13, 20, `${ALNUM}_-`)}`),
  sample('Twilio', 'secret-twilio-key', `SK${chars(14, 32, HEX)}`),
  sample(
    'password in a URL',
    'secret-url-password',
    chars(15, 18),
    `const db = new Pool({ connectionString: 'postgres://orders_app:${chars(15, 18)}@db.prod.internal:5432/orders' });`,
  ),
  sample('JWT (signed token)', 'secret-jwt', jwt, `const headers = { authorization: 'Bearer ${jwt}' };`),
  sample('GitHub', 'secret-github-token', `ghp_${chars(16, 36)}`),
  sample('AWS', 'secret-aws-key', `AKIA${chars(17, 16, UPPER)}`),
  sample('Stripe', 'secret-stripe-key', `sk_live_${chars(18, 24)}`),
  sample(
    'Slack token',
    'secret-slack-token',
    `xoxb-${chars(19, 12, '0123456789')}-${chars(20, 13, '0123456789')}-${chars(21, 24)}`,
  ),
  sample('private key', 'secret-private-key', pem, `export const KEY = \`${pem}\`;`),
];
