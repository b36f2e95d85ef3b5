import { describe, expect, it } from 'vitest';
import { CREDENTIAL_SAMPLES } from '../testing.ts';
import { scanSource } from './preset.ts';
import { isBinaryPath, mask, scanBytes, scanText } from './secrets.ts';

// Token-shaped samples are assembled at run time so this file holds no literal credential.
const R = 'Zq8Rt2Lm5Vx9Kp3Wn7Yc1Hd4Fg6Jb0Ts2Ea8UoPi4Nu7Mj3Bk5Lv9Cx';
const body = (n: number) => R.slice(0, n);
const SAMPLES = {
  anthropic: `sk-ant-api03-${body(40)}`,
  openai: `sk-proj-${body(40)}`,
  openaiLegacy: `sk-${body(48)}`,
  stripe: `sk_live_${body(24)}`,
  stripeRestricted: `rk_live_${body(24)}`,
  github: `ghp_${body(36)}`,
  githubServer: `ghs_${body(36)}`,
  githubPat: `github_pat_${body(22)}_${body(40)}`,
  slack: `xoxb-123456789012-1234567890123-${body(24)}`,
  aws: 'AKIA' + 'Q3ZL7N5VX2KPW8RT',
  random: body(32),
};

/** The rule and masked value of each finding, and proof that no raw value leaks through. */
function scan(path: string, text: string, raw?: string) {
  const findings = scanText(path, text);
  if (raw) for (const f of findings) expect(JSON.stringify(f)).not.toContain(raw);
  return findings.map((f) => ({ line: f.line, rule: f.rule, masked: f.masked }));
}

describe('scanText: provider tokens', () => {
  it.each([
    ['secret-anthropic-key', SAMPLES.anthropic, 'sk-ant-api03-'],
    ['secret-openai-key', SAMPLES.openai, 'sk-proj-'],
    ['secret-openai-key', SAMPLES.openaiLegacy, 'sk-'],
    ['secret-stripe-key', SAMPLES.stripe, 'sk_live_'],
    ['secret-stripe-key', SAMPLES.stripeRestricted, 'rk_live_'],
    ['secret-github-token', SAMPLES.github, 'ghp_'],
    ['secret-github-token', SAMPLES.githubServer, 'ghs_'],
    ['secret-github-token', SAMPLES.githubPat, 'github_pat_'],
    ['secret-slack-token', SAMPLES.slack, 'xoxb-'],
    ['secret-aws-key', SAMPLES.aws, 'AKIA'],
  ])('%s (sample %#)', (rule, value, prefix) => {
    const masked = `${prefix}…${value.slice(-2)}`;
    const text = `import x from 'y';\n\nconst client = new Client(${JSON.stringify(value)});\n`;
    expect(scan('src/tools/a.ts', text, value)).toEqual([{ line: 3, rule, masked }]);
  });

  it('never calls an Anthropic key an OpenAI key, and finds several tokens on one line', () => {
    const line = `a = "${SAMPLES.anthropic}", b = "${SAMPLES.github}"`;
    expect(scan('a.ts', line).map((f) => f.rule)).toEqual(['secret-anthropic-key', 'secret-github-token']);
  });

  it('ignores lookalikes: placeholders, prefixes inside words, wrong lengths, non-live Stripe keys', () => {
    const text = [
      `const key = "sk-${'x'.repeat(40)}";`,
      `const t = "ghp_${'0'.repeat(36)}";`,
      `const ok = "ghp_${body(20)}";`,
      `task-${body(30)}`,
      'const cls = "sk-navigation-menu-item-active";',
      `const test = "sk_test_${body(24)}";`,
      'AKIA1234',
    ].join('\n');
    expect(scan('a.ts', text)).toEqual([]);
  });
});

describe('scanText: private keys', () => {
  it('finds a PEM block in a file and inside a string literal with \\n escapes, masked to its header', () => {
    const b64 = 'MIIEowIBAAKCAQEA7bq3Xk9Lm2Rt5Vx8Zq1Wn4Yc7Hd0Fg3Jb6Ts9Ea2UoPi5Nu8Mj1Bk4';
    const pem = `-----BEGIN RSA PRIVATE KEY-----\n${b64}\n${b64}\n-----END RSA PRIVATE KEY-----\n`;
    expect(scan('key.pem', `\n${pem}`, b64)).toEqual([
      { line: 2, rule: 'secret-private-key', masked: '-----BEGIN RSA PRIVATE KEY-----…' },
    ]);
    const inline = `const key = "-----BEGIN PRIVATE KEY-----\\n${b64}\\n-----END PRIVATE KEY-----";`;
    expect(scan('a.ts', inline, b64).map((f) => f.rule)).toEqual(['secret-private-key']);
    const openssh = `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n`;
    expect(scan('id_ed25519', openssh).map((f) => f.masked)).toEqual(['-----BEGIN OPENSSH PRIVATE KEY-----…']);
  });

  it('ignores a PEM header without a key body (code that parses keys)', () => {
    expect(scan('a.ts', "if (pem.startsWith('-----BEGIN PRIVATE KEY-----')) return parse(pem);\n")).toEqual([]);
  });
});

describe('scanText: high-entropy assignments', () => {
  it.each([
    ['const apiKey = "%s";', 'apiKey'],
    ["const CLIENT_SECRET = '%s';", 'CLIENT_SECRET'],
    ['  "password": "%s",', 'password'],
    ['headers: { Authorization: `Bearer %s` },', 'Authorization'],
    ['this.accessToken = "%s";', 'this.accessToken'],
  ])('flags %s', (template, name) => {
    const findings = scanText('src/a.ts', template.replace('%s', SAMPLES.random));
    expect(findings).toEqual([
      {
        path: 'src/a.ts',
        line: 1,
        rule: 'secret-high-entropy',
        kind: `high-entropy value of "${name}"`,
        masked: `Zq…${SAMPLES.random.slice(-2)}`,
      },
    ]);
  });

  it('reads unquoted values in .env and YAML files, but not in code', () => {
    expect(scan('.env', `PORT=8080\nWEATHER_API_KEY=${SAMPLES.random}\n`).map((f) => f.line)).toEqual([2]);
    expect(scan('deploy/config.yaml', `auth:\n  token: ${SAMPLES.random}\n`).map((f) => f.line)).toEqual([2]);
    expect(scan('a.ts', `let token\ntoken = ${SAMPLES.random}\n`)).toEqual([]);
  });

  it('has no false positives on typical code and data', () => {
    const text = [
      "const id = '123e4567-e89b-12d3-a456-426614174000';",
      "const requestId = '123e4567-e89b-12d3-a456-426614174000';",
      "const sha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';",
      "const tokenHash = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';",
      '"integrity": "sha512-3N5pQ2Vq6kTQn8rT0h2q5l9Vx3aBcD4eFgH1iJ2kL3mN4oP5qR6sT7uV8wX9yZ0aA==",',
      "const key = 'a8F3kL9qZ2xW7vB4nM6pR1tY5uE0sD3c';",
      "const logo = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';",
      "const apiKey = await ctx.secret('OPENWEATHER_API_KEY');",
      "const secretName = 'OPENWEATHER_API_KEY_PRIMARY';",
      "const tokenUrl = 'https://auth.example.com/oauth2/v1/token';",
      "auth: { url: 'https://api.github.com/app/installations' },",
      "const apiKey = '<your-api-key-goes-here-please>';",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the scanned code is a template literal
      'const password = `${prefix}${suffix}-and-some-more-text`;',
      "const token = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx';",
      'const apiKey = process.env.WEATHER_API_KEY_FOR_TESTING;',
      "const author = 'Jane Doe <jane.doe@example.com> 2024';",
      "const secretPath = './config/secrets/production.json';",
      "const authorization = 'Bearer ' + token;",
      "description: 'Returns the forecast for a city, in metric units'",
    ].join('\n');
    expect(scan('src/tools/weather.ts', text)).toEqual([]);
  });
});

describe('mask', () => {
  it('keeps the known prefix and at most the last two characters, never the value', () => {
    expect(mask(SAMPLES.github)).toBe(`ghp_…${SAMPLES.github.slice(-2)}`);
    expect(mask('sk-ant-api03-short')).toBe('sk-ant-api03-…');
    expect(mask('hunter2hunter2')).toBe('hu…');
    for (const value of Object.values(SAMPLES)) {
      const [prefix, tail] = mask(value).split('…') as [string, string];
      expect(value.startsWith(prefix) && value.endsWith(tail) && tail.length <= 2).toBe(true);
      expect(prefix.length + tail.length).toBeLessThanOrEqual(15);
      expect(mask(value)).not.toContain(value);
      expect(value).not.toContain(mask(value).replace('…', ''));
    }
  });
});

describe('binary files', () => {
  it('skips content with NUL bytes and knows binary types by extension', () => {
    const bytes = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00]), Buffer.from(SAMPLES.github)]);
    expect(scanBytes('logo.png', bytes)).toEqual([]);
    expect(scanBytes('a.txt', Buffer.from(`t = "${SAMPLES.github}"`)).map((f) => f.rule)).toEqual([
      'secret-github-token',
    ]);
    expect(isBinaryPath('assets/Logo.PNG')).toBe(true);
    expect(isBinaryPath('dist/app.wasm')).toBe(true);
    expect(isBinaryPath('src/tools/png.ts')).toBe(false);
    expect(isBinaryPath('Makefile')).toBe(false);
  });
});

describe('every common credential format, one realistic sample each', () => {
  it.each(CREDENTIAL_SAMPLES.map((s) => [s.format, s] as const))('%s is found, named and masked', async (_, s) => {
    const text = `// service client\n${s.line}\n`;
    const own = scanText('src/tools/client.ts', text);
    expect(own.map((f) => f.rule)).toContain(s.rule);
    const full = await scanSource('src/tools/client.ts', text);
    expect(full.map((f) => f.rule)).toContain(s.rule);
    // The value, and any 8-character piece of it past its public prefix, appear in no finding.
    for (const f of full) {
      const json = JSON.stringify(f);
      expect(json).not.toContain(s.value);
      const shown = f.masked.split('…')[0] as string;
      const secret = (s.value.startsWith(shown) ? s.value.slice(shown.length) : s.value).replace(/-----END .*/, '');
      for (let i = 0; i + 8 <= secret.length; i += 4) expect(json).not.toContain(secret.slice(i, i + 8));
    }
  });

  it('a password in a URL shows scheme and user, none of the password', () => {
    const s = CREDENTIAL_SAMPLES.find((c) => c.rule === 'secret-url-password') as (typeof CREDENTIAL_SAMPLES)[number];
    expect(scanText('a.ts', s.line).map((f) => f.masked)).toEqual(['postgres://orders_app:…@']);
    const redis = `const url = 'redis://:${s.value}@cache.prod.internal:6379';`;
    expect(scanText('a.ts', redis).map((f) => f.masked)).toEqual(['redis://:…@']);
  });

  it('leaves documentation-style URLs and unsigned tokens alone', () => {
    const D = '$'; // template placeholders as they appear in code, not in this test's own strings
    const text = [
      "const url = 'postgres://user:password@localhost:5432/db';",
      `const tpl = \`https://${D}{user}:${D}{pass}@api.example.com\`;`,
      `const ok = 'https://x-access-token:${D}{TOKEN}@github.com/org/repo.git';`,
      "const hook = 'https://hooks.slack.com/services/XXX/YYY/ZZZ';",
      `const unsigned = '${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"1234567890"}').toString('base64url')}.';`,
    ].join('\n');
    expect(scanText('docs.ts', text)).toEqual([]);
  });
});
