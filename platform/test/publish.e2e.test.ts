import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/accounts/keys.ts';
import { type ChangeBody, poll, type ServerBody, TestStack, textOf } from './harness.ts';

type ErrorBody = { error: { code: string; message: string } };
interface TemplateBody {
  kind: string;
  id: string;
  name: string;
  visibility: string;
  commit: string;
  revision: number;
  takenDownAt: string | null;
  notified?: string[];
}
interface ForkedServer extends ServerBody {
  template: string;
  forkedFrom: { id: string; name: string; commit: string } | null;
  notices: { code: string; message: string; template: { id: string; name: string } }[];
}

let stack: TestStack;
let otherOwner: string;
let developer: string;

/** An API key of a new user with `role` in org `slug` (created when missing). */
async function keyIn(slug: string, role: string): Promise<string> {
  const { db } = stack.platform.ctx;
  const org = (await db.org.findUnique({ where: { slug } })) ?? (await db.org.create({ data: { slug, name: slug } }));
  const user = await db.user.create({
    data: { email: `${slug}-${role}-${randomBytes(3).toString('hex')}@localhost`, name: `${slug} ${role}` },
  });
  await db.membership.create({ data: { orgId: org.id, userId: user.id, role } });
  const { key, prefix, hash } = generateApiKey();
  await db.apiKey.create({ data: { orgId: org.id, userId: user.id, name: role, prefix, hash, scopes: ['*'] } });
  return key;
}

/** Calls `days_between` on a server and returns the text. */
async function daysBetween(url: string, key?: string): Promise<string> {
  const client = await stack.mcpClient(url, key);
  try {
    return textOf(await client.callTool({ name: 'days_between', arguments: { from: '2026-01-01', to: '2026-01-31' } }));
  } finally {
    await client.close();
  }
}

/** The public gallery as anyone sees it: no key, no session. */
async function gallery(): Promise<{ status: number; templates: Record<string, unknown>[] }> {
  const res = await fetch(`${stack.url}/api/v1/public/templates`);
  return { status: res.status, templates: ((await res.json()) as { templates: Record<string, unknown>[] }).templates };
}

/** Whether nothing of server `name` exists: no row, no repo. */
async function absent(name: string): Promise<boolean> {
  const { db, git } = stack.platform.ctx;
  return (await db.server.findUnique({ where: { name } })) === null && !(await git.repoExists(name));
}

beforeAll(async () => {
  stack = await TestStack.start();
  await stack.createAndDeploy('calendar', 'date-math');
  otherOwner = await keyIn('other', 'owner');
  developer = await keyIn('default', 'developer');
}, 300_000);
afterAll(async () => {
  await stack?.destroy();
});

describe('publishing a server as a template, forking it, taking it down', () => {
  let template: TemplateBody;

  it('publishes main (green checks) within the org; only maintainers may', async () => {
    const denied = await stack.api<ErrorBody>(
      'POST',
      '/api/v1/servers/calendar/publish',
      { visibility: 'org' },
      { key: developer },
    );
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('forbidden');

    const bad = await stack.api<ErrorBody>('POST', '/api/v1/servers/calendar/publish', { visibility: 'everyone' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/"visibility" must be "public".*or "org"/);

    const published = await stack.api<TemplateBody>('POST', '/api/v1/servers/calendar/publish', { visibility: 'org' });
    expect(published.status).toBe(201);
    template = published.body;
    const main = await stack.platform.ctx.git.resolveRef('calendar', 'refs/heads/main');
    expect(template).toMatchObject({
      kind: 'published',
      name: 'calendar',
      visibility: 'org',
      revision: 1,
      commit: main,
    });

    // An org template stays out of the public gallery, which anyone may read without credentials.
    const open = await gallery();
    expect(open.status).toBe(200);
    expect(open.templates.filter((t) => t.kind === 'builtin').map((t) => t.name)).toContain('date-math');
    expect(open.templates.some((t) => t.kind === 'published')).toBe(false);
    expect((await fetch(`${stack.url}/api/v1/templates`)).status).toBe(401);

    const mine = await stack.api<{ templates: TemplateBody[] }>('GET', '/api/v1/templates');
    expect(mine.body.templates.filter((t) => t.kind === 'builtin').map((t) => t.name)).toContain('date-math');
    expect(mine.body.templates.find((t) => t.kind === 'published')?.id).toBe(template.id);
    const theirs = await stack.api<{ templates: TemplateBody[] }>('GET', '/api/v1/templates', undefined, {
      key: otherOwner,
    });
    expect(theirs.body.templates.some((t) => t.kind === 'published')).toBe(false);
  });

  it('refuses to publish what has no green main, and names that collide with a built-in template', async () => {
    const fresh = await stack.api('POST', '/api/v1/servers', { name: 'unmerged', template: 'echo' });
    expect(fresh.status).toBe(201);
    const unmerged = await stack.api<ErrorBody>('POST', '/api/v1/servers/unmerged/publish', {});
    expect(unmerged.status).toBe(409);
    expect(unmerged.body.error.code).toBe('checks_not_passed');

    expect((await stack.api('POST', '/api/v1/servers', { name: 'csv-json', template: 'echo' })).status).toBe(201);
    const clash = await stack.api<ErrorBody>('POST', '/api/v1/servers/csv-json/publish', {});
    expect(clash.status).toBe(409);
    expect(clash.body.error.code).toBe('template_name_taken');
    expect(await stack.platform.ctx.db.publishedTemplate.count()).toBe(1);
  });

  it('forks into a new repo whose first commit records the origin; the fork deploys and serves', async () => {
    const created = await stack.api<{ server: { template: string } }>('POST', '/api/v1/servers', {
      name: 'my-dates',
      from: template.id,
    });
    expect(created.status).toBe(201);
    expect(created.body.server.template).toBe('calendar');

    const wd = await stack.clone('my-dates');
    const first = await wd.git('log', '--reverse', '--format=%B%x00', 'origin/main');
    const root = first.split('\0')[0] ?? '';
    expect(root).toContain('Fork my-dates from template calendar (revision 1)');
    expect(root).toContain(`Template-Id: ${template.id}`);
    expect(root).toContain(`Template-Commit: ${template.commit}`);

    const change = await stack.waitChecks('my-dates', 1, 240_000);
    expect(change.checkSuite.conclusion).toBe('success');
    const merged = await stack.api<{ sha: string }>('POST', '/api/v1/servers/my-dates/changes/1/merge');
    expect(merged.status).toBe(200);
    const server = (await stack.waitReady('my-dates', merged.body.sha, 120_000)) as ForkedServer;
    expect(server.forkedFrom).toEqual({ id: template.id, name: 'calendar', commit: template.commit });
    expect(server.notices).toEqual([]);
    expect(await daysBetween(server.url)).toContain('"days":30');
    const manifest = JSON.parse((await stack.platform.ctx.git.readFile('my-dates', 'main', 'mcp.json')) ?? '{}');
    expect(manifest.name).toBe('my-dates');
  });

  it('gives a clear error and creates nothing for bad fork input', async () => {
    const cases: [Record<string, unknown>, number, string, string?][] = [
      [{ name: 'my-dates', from: template.id }, 409, 'name_taken'],
      [{ name: 'fork-a', from: 'no-such-template' }, 400, 'unknown_template'],
      [{ name: 'fork-b', from: 'date-math' }, 400, 'invalid_request', 'is a built-in template'],
      [{ name: 'fork-c', from: template.id, template: 'echo' }, 400, 'invalid_request', 'not both'],
      [{ name: 'fork-d', from: template.id, options: { x: 1 } }, 400, 'invalid_request', 'a fork copies its files'],
      [{ name: 'fork-f', template: 'calendar' }, 400, 'invalid_request', 'fork it with {"from":"calendar"}'],
      [{ name: 'Fork E', from: template.id }, 400, 'invalid_name'],
      [{ name: 'opts-a', template: 'rss-reader', options: { feed: 'x' } }, 400, 'invalid_template_options', 'feed'],
      [{ name: 'opts-b', template: 'rss-reader', options: { feeds: ['ftp://x'] } }, 400, 'invalid_template_options'],
      [{ name: 'opts-c', template: 'echo', options: [1] }, 400, 'invalid_request'],
    ];
    for (const [body, status, code, message] of cases) {
      const r = await stack.api<ErrorBody>('POST', '/api/v1/servers', body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.error.code, JSON.stringify(body)).toBe(code);
      if (message) expect(r.body.error.message).toContain(message);
      const name = String(body.name);
      if (name !== 'my-dates' && /^[a-z][a-z0-9-]+$/.test(name)) expect(await absent(name)).toBe(true);
    }
    const named = await stack.api<ErrorBody>('POST', '/api/v1/servers', {
      name: 'opts-a',
      template: 'rss-reader',
      options: { feed: 'x' },
    });
    expect(named.body.error.message).toMatch(/Unrecognized key: "feed"/);
    // An org-only template is invisible to another org: forking it is an unknown template there.
    const hidden = await stack.api<ErrorBody>(
      'POST',
      '/api/v1/servers',
      { name: 'their-dates', from: template.id },
      { key: otherOwner },
    );
    expect(hidden.status).toBe(400);
    expect(hidden.body.error.code).toBe('unknown_template');
    expect(await stack.platform.ctx.db.templateFork.count()).toBe(1);
  });

  it('publishing again makes a new revision; a public template can be forked by another org', async () => {
    const again = await stack.api<TemplateBody>('POST', '/api/v1/servers/calendar/publish', { visibility: 'public' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: template.id, revision: 2, visibility: 'public' });
    const theirs = await stack.api<{ templates: TemplateBody[] }>('GET', '/api/v1/templates', undefined, {
      key: otherOwner,
    });
    expect(theirs.body.templates.find((t) => t.kind === 'published')?.name).toBe('calendar');
    // Public now: the gallery shows it to anyone, with what a gallery needs and nothing of the org behind it.
    const listed = await gallery();
    expect(listed.templates.find((t) => t.kind === 'published')).toEqual({
      kind: 'published',
      name: 'calendar',
      description: expect.any(String),
      revision: 2,
      updatedAt: expect.any(String),
    });
    const fork = await stack.api(
      'POST',
      '/api/v1/servers',
      { name: 'their-dates', from: 'calendar' },
      { key: otherOwner },
    );
    expect(fork.status).toBe(201);
  });

  it('takedown: only admins of the publishing org; forks keep running and their owners are told', async () => {
    const byDeveloper = await stack.api<ErrorBody>(
      'POST',
      `/api/v1/templates/${template.id}/takedown`,
      {},
      { key: developer },
    );
    expect(byDeveloper.status).toBe(403);
    const byOtherOrg = await stack.api<ErrorBody>(
      'POST',
      `/api/v1/templates/${template.id}/takedown`,
      {},
      { key: otherOwner },
    );
    expect(byOtherOrg.status).toBe(403);

    const down = await stack.api<TemplateBody>('POST', `/api/v1/templates/${template.id}/takedown`, {
      reason: 'ships a broken date rule',
    });
    expect(down.status).toBe(200);
    expect(down.body.takenDownAt).not.toBeNull();
    expect(down.body.notified?.sort()).toEqual(['my-dates', 'their-dates']);

    // The fork still serves, and its owners see why they should look at it.
    const server = (await stack.api<ForkedServer>('GET', '/api/v1/servers/my-dates')).body;
    expect(server.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(await daysBetween(server.url)).toContain('"days":30');
    expect(server.notices).toHaveLength(1);
    expect(server.notices[0]).toMatchObject({ code: 'template_taken_down', template: { name: 'calendar' } });
    expect(server.notices[0]?.message).toContain('ships a broken date rule');
    const theirs = (await stack.api<ForkedServer>('GET', '/api/v1/servers/their-dates', undefined, { key: otherOwner }))
      .body;
    expect(theirs.notices[0]?.code).toBe('template_taken_down');

    const { db } = stack.platform.ctx;
    const other = await db.org.findUniqueOrThrow({ where: { slug: 'other' } });
    const told = await db.auditEvent.findMany({ where: { action: 'template.taken_down' } });
    expect(told.map((e) => (e.data as { server: string }).server).sort()).toEqual(['my-dates', 'their-dates']);
    expect(told.find((e) => (e.data as { server: string }).server === 'their-dates')?.orgId).toBe(other.id);

    // No new forks, gone from the other org's catalog, and it cannot be published again.
    const fork = await stack.api<ErrorBody>('POST', '/api/v1/servers', { name: 'late-fork', from: template.id });
    expect(fork.status).toBe(410);
    expect(fork.body.error.code).toBe('template_taken_down');
    expect(await absent('late-fork')).toBe(true);
    const catalog = await stack.api<{ templates: TemplateBody[] }>('GET', '/api/v1/templates', undefined, {
      key: otherOwner,
    });
    expect(catalog.body.templates.some((t) => t.kind === 'published')).toBe(false);
    expect((await gallery()).templates.some((t) => t.kind === 'published')).toBe(false);
    const republish = await stack.api<ErrorBody>('POST', '/api/v1/servers/calendar/publish', {});
    expect(republish.status).toBe(410);
  });

  it("the platform operator's owner may take down another org's public template; its admins may not", async () => {
    // Change #1 of the other org's fork: its checks, seen with that org's key.
    await poll(
      async () => {
        const r = await stack.api<ChangeBody>('GET', '/api/v1/servers/their-dates/changes/1', undefined, {
          key: otherOwner,
        });
        return r.body.checkSuite?.status === 'completed' ? r.body : undefined;
      },
      120_000,
      'checks of their-dates change #1',
    );
    const merged = await stack.api('POST', '/api/v1/servers/their-dates/changes/1/merge', undefined, {
      key: otherOwner,
    });
    expect(merged.status).toBe(200);
    const published = await stack.api<TemplateBody>(
      'POST',
      '/api/v1/servers/their-dates/publish',
      { visibility: 'public', description: 'Dates, forked and shared again' },
      { key: otherOwner },
    );
    expect(published.status).toBe(201);
    const seen = await stack.api<TemplateBody & { forks?: number }>('GET', '/api/v1/templates/their-dates');
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ name: 'their-dates', visibility: 'public', yours: false });
    expect('forks' in seen.body).toBe(false); // fork counts are for the publishing org only

    const admin = await keyIn('default', 'admin');
    const byAdmin = await stack.api<ErrorBody>('POST', '/api/v1/templates/their-dates/takedown', {}, { key: admin });
    expect(byAdmin.status).toBe(403);
    const byOperator = await stack.api<TemplateBody>('POST', '/api/v1/templates/their-dates/takedown', {
      reason: 'reported as abusive',
    });
    expect(byOperator.status).toBe(200);
    expect(byOperator.body.takenDownAt).not.toBeNull();
    const theirs = await stack.api<TemplateBody>('GET', '/api/v1/templates/their-dates', undefined, {
      key: otherOwner,
    });
    expect(theirs.body.takenDownAt).not.toBeNull();
  }, 180_000);
});
