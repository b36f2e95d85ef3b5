import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestStack } from './harness.ts';

interface AuditEventBody {
  id: string;
  time: string;
  action: string;
  actor: { userId: string | null; email: string | null; apiKeyId: string | null } | null;
  target: { type: string; id: string | null };
  ip: string | null;
  requestId: string | null;
  data: Record<string, unknown>;
}
interface AuditPage {
  events: AuditEventBody[];
  next: string | null;
}

const PASSWORD = 'correct horse battery staple';
const SECRET_VALUE = 'sk-audit-never-shown-0123456789';

/** Acceptance (audit log): every mutation is recorded with who, what, when and from where, and read back by admins. */
describe('the audit log', () => {
  let stack: TestStack;
  let viewerKey: string;
  let viewerId: string;
  let ownerId: string;

  beforeAll(async () => {
    stack = await TestStack.start();
    ownerId = (await stack.api<{ user: { id: string } }>('GET', '/api/v1/me')).body.user?.id ?? '';
    const email = 'vera@example.com';
    const invite = await stack.api<{ token: string }>('POST', '/api/v1/org/invitations', { email, role: 'developer' });
    expect(invite.status).toBe(201);
    const signup = await fetch(`${stack.url}/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD, invitation: invite.body.token }),
    });
    expect(signup.status).toBe(201);
    const { csrfToken } = (await signup.json()) as { csrfToken: string };
    const cookie = (signup.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const key = await stack.api<{ key: string }>(
      'POST',
      '/api/v1/keys',
      { name: 'vera' },
      { key: null, headers: { cookie, 'x-csrf-token': csrfToken } },
    );
    expect(key.status).toBe(201);
    viewerKey = key.body.key;
    const members = await stack.api<{ members: { userId: string; email: string }[] }>('GET', '/api/v1/org/members');
    viewerId = members.body.members.find((m) => m.email === email)?.userId ?? '';
    // A role change (before/after), a server, a secret set and deleted: each one event.
    expect((await stack.api('PATCH', `/api/v1/org/members/${viewerId}`, { role: 'viewer' })).status).toBe(200);
    expect((await stack.api('POST', '/api/v1/servers', { name: 'ledger', template: 'echo' })).status).toBe(201);
    const put = await stack.api(
      'PUT',
      '/api/v1/servers/ledger/secrets/API_TOKEN',
      { value: SECRET_VALUE },
      {
        headers: { 'x-forwarded-for': '203.0.113.50' },
      },
    );
    expect(put.status).toBe(201);
    expect((await stack.api('DELETE', '/api/v1/servers/ledger/secrets/API_TOKEN')).status).toBe(204);
    // Signing in and asking for a set-password link are recorded too.
    const login = await fetch(`${stack.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    expect(login.status).toBe(200);
    expect((await stack.api('POST', '/api/v1/me/setup-link')).status).toBe(201);
  }, 300_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  it('answers a page of events, newest first, with who, what, when, from where and the before/after', async () => {
    const r = await stack.api<AuditPage>('GET', '/api/v1/audit');
    expect(r.status).toBe(200);
    const actions = r.body.events.map((e) => e.action);
    expect(actions.slice(0, 6)).toEqual([
      'user.setup_link',
      'user.login',
      'secret.delete',
      'secret.create',
      'change.open',
      'server.create',
    ]);
    const times = r.body.events.map((e) => Date.parse(e.time));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const role = r.body.events.find((e) => e.action === 'member.role');
    expect(role).toMatchObject({
      actor: { userId: ownerId, email: expect.stringContaining('@'), apiKeyId: expect.any(String) },
      target: { type: 'user', id: viewerId },
      data: { before: { role: 'developer' }, after: { role: 'viewer' } },
      requestId: expect.any(String),
    });
    // The caller's address on every event of a request; X-Forwarded-For from an untrusted peer is not believed.
    for (const e of r.body.events.filter((e) => e.requestId !== null))
      expect(`${e.action} ${e.ip}`).toMatch(/ ((::ffff:)?127\.0\.0\.1|::1)$/);
    const set = r.body.events.find((e) => e.action === 'secret.create');
    expect(set?.data).toMatchObject({ server: 'ledger', secret: 'API_TOKEN' });
    expect(JSON.stringify(r.body)).not.toContain(SECRET_VALUE);
    const keyCreate = r.body.events.find((e) => e.action === 'apikey.create');
    expect(JSON.stringify(keyCreate)).not.toMatch(/bmms_[A-Za-z0-9]{20,}/);
  });

  it('filters by action (or prefix), actor (id or email), target and time, and pages with before/next', async () => {
    const all = (await stack.api<AuditPage>('GET', '/api/v1/audit?limit=500')).body.events;
    const q = async (query: string) => (await stack.api<AuditPage>('GET', `/api/v1/audit?${query}`)).body;
    expect((await q('action=member.role')).events.map((e) => e.action)).toEqual(['member.role']);
    expect(new Set((await q('action=secret.')).events.map((e) => e.action))).toEqual(
      new Set(['secret.create', 'secret.delete']),
    );
    const byVera = await q('actor=vera%40example.com');
    expect(byVera.events.length).toBeGreaterThan(0);
    expect(byVera.events.every((e) => e.actor?.userId === viewerId)).toBe(true);
    expect((await q(`actor=${viewerId}`)).events).toEqual(byVera.events);
    expect((await q('actor=nobody%40example.com')).events).toEqual([]);
    expect((await q(`targetType=user&targetId=${viewerId}`)).events.map((e) => e.action)).toContain('member.role');
    expect((await q('until=2000-01-01T00:00:00Z')).events).toEqual([]);
    expect((await q('since=2000-01-01')).events.length).toBe(all.length);

    const seen: string[] = [];
    let page = await q('limit=2');
    expect(page.events).toHaveLength(2);
    for (;;) {
      seen.push(...page.events.map((e) => e.id));
      if (!page.next) break;
      page = await q(`limit=2&before=${page.next}`);
    }
    expect(seen).toEqual(all.map((e) => e.id));
  });

  it('exports every matching event as JSON lines, by format=jsonl or the Accept header', async () => {
    const all = (await stack.api<AuditPage>('GET', '/api/v1/audit?limit=500')).body.events;
    const byFormat = await fetch(`${stack.url}/api/v1/audit?format=jsonl`, {
      headers: { authorization: `Bearer ${stack.key}` },
    });
    expect(byFormat.status).toBe(200);
    expect(byFormat.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = (await byFormat.text()).trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l) as AuditEventBody)).toEqual(all);
    const byAccept = await fetch(`${stack.url}/api/v1/audit?action=secret.create`, {
      headers: { authorization: `Bearer ${stack.key}`, accept: 'application/x-ndjson' },
    });
    const one = (await byAccept.text()).trimEnd().split('\n');
    expect(one.map((l) => (JSON.parse(l) as AuditEventBody).action)).toEqual(['secret.create']);
  });

  it('is for owners and admins only, and refuses bad queries naming the field', async () => {
    const asViewer = await stack.api<{ error: { code: string } }>('GET', '/api/v1/audit', undefined, {
      key: viewerKey,
    });
    expect(asViewer.status).toBe(403);
    expect(asViewer.body.error.code).toBe('forbidden');
    const bad = await stack.api<{ error: { code: string; message: string } }>('GET', '/api/v1/audit?limit=501');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^query\.limit/);
    const since = await stack.api<{ error: { code: string; message: string } }>('GET', '/api/v1/audit?since=yesterday');
    expect(since.body.error.message).toBe('query.since: must be an ISO 8601 date or date-time');
  });

  it('cannot be changed through the database', async () => {
    const { db } = stack.platform.ctx;
    await expect(db.auditEvent.deleteMany({})).rejects.toThrow(/append-only/);
    await expect(db.auditEvent.updateMany({ data: { action: 'forged' } })).rejects.toThrow(/append-only/);
  });
});
