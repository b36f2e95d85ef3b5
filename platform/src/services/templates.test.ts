import type { PublishedTemplate } from '@bmms/prisma';
import { parseManifest, renderTemplate } from '@bmms/runner-template';
import { describe, expect, it } from 'vitest';
import { forkCommitMessage, forkFiles } from './templates.ts';

const files = renderTemplate('date-math', 'dates-tpl');
const row: PublishedTemplate = {
  id: '0b7d5c2e-1111-4222-8333-944455556666',
  name: 'dates-tpl',
  orgId: '00000000-0000-4000-8000-000000000001',
  sourceServerId: null,
  commitSha: 'a'.repeat(40),
  treeSha: 'b'.repeat(40),
  revision: 3,
  visibility: 'public',
  description: 'Dates',
  files,
  publishedById: null,
  createdAt: new Date(),
  updatedAt: new Date(),
  takenDownAt: null,
  takenDownById: null,
  takedownReason: null,
};

describe('forking a published template', () => {
  it('renames the server in mcp.json, package.json and the README, and leaves the code as published', () => {
    const out = forkFiles(row, 'my-dates');
    expect(parseManifest(out['mcp.json'] ?? '').name).toBe('my-dates');
    expect(JSON.parse(out['package.json'] ?? '{}').name).toBe('my-dates');
    expect(out['README.md']).toMatch(/^# my-dates$/m);
    expect(out['README.md']).toContain('/s/my-dates/mcp');
    expect(out['README.md']).toContain('claude mcp add --transport http my-dates ');
    expect(out['README.md']).not.toContain('dates-tpl');
    for (const path of Object.keys(files).filter((p) => p.startsWith('src/') || p.startsWith('test/'))) {
      expect(out[path], path).toBe(files[path]);
    }
    // The stored row is not changed by a fork.
    expect(parseManifest((row.files as Record<string, string>)['mcp.json'] ?? '').name).toBe('dates-tpl');
  });

  it('writes the origin into the first commit message, in words and as trailers', () => {
    const message = forkCommitMessage(row, 'my-dates');
    expect(message.split('\n')[0]).toBe('Fork my-dates from template dates-tpl (revision 3)');
    expect(message).toContain(
      `Template-Id: ${row.id}\nTemplate-Name: dates-tpl\nTemplate-Revision: 3\nTemplate-Commit: ${'a'.repeat(40)}`,
    );
  });
});
