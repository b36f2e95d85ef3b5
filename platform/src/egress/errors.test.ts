import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { egressRefusal } from '@bmms/runner-template';
import { describe, expect, it } from 'vitest';
import { EGRESS_ERRORS, type EgressErrorCode, policyRefused } from './errors.ts';

// The egress proxy's error table against what must agree with it: the egress table of the server-repo docs,
// the shared egress policy's refusal codes, and the tests that produce each code.
const PLATFORM = path.resolve(import.meta.dirname, '../..');
const DOCS = path.resolve(PLATFORM, '../site/src/content/docs/server-repo.md');
const CODES = Object.keys(EGRESS_ERRORS) as EgressErrorCode[];

/** The rows `| \`403\` | \`egress_…\` | … |` of the docs page, as code → status. */
function documentedCodes(): Map<string, number> {
  const rows = new Map<string, number>();
  for (const line of readFileSync(DOCS, 'utf8').split('\n')) {
    const row = /^\|\s*`(\d{3})`\s*\|\s*`(egress_[a-z_]+)`\s*\|/.exec(line);
    if (row) rows.set(row[2] as string, Number(row[1]));
  }
  return rows;
}

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'node_modules' ? [] : testFiles(full);
    return full.endsWith('.test.ts') && full !== import.meta.filename ? [full] : [];
  });
}

describe('egress error table', () => {
  it('is the docs table: every code with its status, and nothing else', () => {
    const table = new Map(CODES.map((code) => [code, EGRESS_ERRORS[code].status]));
    expect(Object.fromEntries(documentedCodes())).toEqual(Object.fromEntries(table));
  });

  it('has every refusal of the shared egress policy, rendered with the policy message and a 403', () => {
    const allow = ['api.example.com', 'feed.example.com:8443'];
    const broken = {
      egress_scheme_not_allowed: 'ftp://api.example.com/file',
      egress_host_not_allowed: 'https://other.example.com/',
      egress_port_not_allowed: 'https://api.example.com:8443/',
    } as const;
    for (const [code, url] of Object.entries(broken)) {
      const refusal = egressRefusal(new URL(url), allow);
      expect(refusal?.code).toBe(code);
      if (!refusal) continue;
      const error = policyRefused(refusal);
      expect({ code: error.code, status: error.status, message: error.message }).toEqual({
        code,
        status: 403,
        message: refusal.message,
      });
    }
    expect(egressRefusal(new URL('https://feed.example.com:8443/x'), allow)).toBeNull();
  });

  it('has every code produced by some test', () => {
    const tests = testFiles(PLATFORM)
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n');
    expect(CODES.filter((code) => !tests.includes(`'${code}'`) && !tests.includes(`"${code}"`))).toEqual([]);
  });
});
