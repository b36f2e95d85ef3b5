import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../src/accounts/roles.ts';
import { apiRouter } from '../src/api/router.ts';
import { TestStack } from './harness.ts';
import { openApiPath, routesOf } from './routes.ts';

const PASSWORD = 'correct horse battery staple';
const NO_ID = '00000000-0000-0000-0000-000000000000';

/** Every route of the REST API with the weakest role that may use it. */
const TABLE: { method: string; route: string; path: string; min: Role; body?: unknown }[] = [
  // The API's description needs no credential at all: no role is refused it.
  { method: 'GET', route: '/openapi.json', path: '/openapi.json', min: 'viewer' },
  { method: 'GET', route: '/public/templates', path: '/public/templates', min: 'viewer' },
  { method: 'GET', route: '/servers', path: '/servers', min: 'viewer' },
  { method: 'POST', route: '/servers', path: '/servers', min: 'developer', body: { name: 'newone', template: 'echo' } },
  { method: 'GET', route: '/servers/:name', path: '/servers/delta', min: 'viewer' },
  { method: 'DELETE', route: '/servers/:name', path: '/servers/delta', min: 'admin' },
  { method: 'GET', route: '/servers/:name/changes', path: '/servers/delta/changes', min: 'viewer' },
  {
    method: 'POST',
    route: '/servers/:name/changes',
    path: '/servers/delta/changes',
    min: 'developer',
    body: { branch: 'x', title: 'x' },
  },
  {
    method: 'POST',
    route: '/servers/:name/views',
    path: '/servers/delta/views',
    min: 'developer',
    body: { pattern: 'kanban', tool: 'echo' },
  },
  { method: 'GET', route: '/view-patterns', path: '/view-patterns', min: 'viewer' },
  { method: 'GET', route: '/servers/:name/changes/:number', path: '/servers/delta/changes/1', min: 'viewer' },
  {
    method: 'POST',
    route: '/servers/:name/changes/:number/merge',
    path: '/servers/delta/changes/1/merge',
    min: 'developer',
  },
  {
    method: 'POST',
    route: '/servers/:name/changes/:number/close',
    path: '/servers/delta/changes/1/close',
    min: 'developer',
  },
  { method: 'POST', route: '/servers/:name/revert', path: '/servers/delta/revert', min: 'developer', body: {} },
  {
    method: 'GET',
    route: '/servers/:name/changes/:number/checks/:check',
    path: '/servers/delta/changes/1/checks/manifest',
    min: 'viewer',
  },
  {
    method: 'POST',
    route: '/servers/:name/changes/:number/checks/:check/rerun',
    path: '/servers/delta/changes/1/checks/manifest/rerun',
    min: 'developer',
  },
  { method: 'POST', route: '/servers/:name/retry', path: '/servers/delta/retry', min: 'developer' },
  { method: 'GET', route: '/servers/:name/secrets', path: '/servers/delta/secrets', min: 'viewer' },
  {
    method: 'PUT',
    route: '/servers/:name/secrets/:secret',
    path: '/servers/delta/secrets/API_KEY',
    min: 'developer',
    body: { value: 'v' },
  },
  {
    method: 'DELETE',
    route: '/servers/:name/secrets/:secret',
    path: '/servers/delta/secrets/API_KEY',
    min: 'developer',
  },
  { method: 'GET', route: '/servers/:name/replay', path: '/servers/delta/replay', min: 'viewer' },
  {
    method: 'PUT',
    route: '/servers/:name/replay',
    path: '/servers/delta/replay',
    min: 'admin',
    body: { enabled: false },
  },
  {
    method: 'DELETE',
    route: '/servers/:name/replay/recordings',
    path: '/servers/delta/replay/recordings',
    min: 'admin',
  },
  { method: 'GET', route: '/servers/:name/domains', path: '/servers/delta/domains', min: 'viewer' },
  {
    method: 'POST',
    route: '/servers/:name/domains',
    path: '/servers/delta/domains',
    min: 'admin',
    body: { hostname: 'mcp.example.com' },
  },
  {
    method: 'POST',
    route: '/servers/:name/domains/:hostname/verify',
    path: '/servers/delta/domains/mcp.example.com/verify',
    min: 'admin',
  },
  {
    method: 'DELETE',
    route: '/servers/:name/domains/:hostname',
    path: '/servers/delta/domains/mcp.example.com',
    min: 'admin',
  },
  { method: 'GET', route: '/domains/tls', path: '/domains/tls?domain=mcp.example.com', min: 'viewer' },
  { method: 'POST', route: '/admin/rotate-master-key', path: '/admin/rotate-master-key', min: 'owner' },
  { method: 'GET', route: '/servers/:name/logs', path: '/servers/delta/logs', min: 'viewer' },
  { method: 'GET', route: '/servers/:name/metrics', path: '/servers/delta/metrics', min: 'viewer' },
  { method: 'GET', route: '/usage', path: '/usage', min: 'viewer' },
  { method: 'GET', route: '/billing', path: '/billing', min: 'viewer' },
  { method: 'GET', route: '/github/connection', path: '/github/connection', min: 'viewer' },
  { method: 'PUT', route: '/github/connection', path: '/github/connection', min: 'admin', body: { token: 'x' } },
  { method: 'DELETE', route: '/github/connection', path: '/github/connection', min: 'admin' },
  { method: 'POST', route: '/billing/checkout', path: '/billing/checkout', min: 'admin', body: { plan: 'pro' } },
  { method: 'POST', route: '/billing/portal', path: '/billing/portal', min: 'admin' },
  { method: 'GET', route: '/billing/invoices', path: '/billing/invoices', min: 'admin' },
  { method: 'POST', route: '/billing/webhook', path: '/billing/webhook', min: 'viewer' },
  { method: 'GET', route: '/me', path: '/me', min: 'viewer' },
  { method: 'DELETE', route: '/me', path: '/me', min: 'viewer', body: { confirm: 'not-my-email@example.com' } },
  { method: 'DELETE', route: '/org', path: '/org', min: 'owner', body: { confirm: 'not-the-org' } },
  { method: 'PUT', route: '/me/password', path: '/me/password', min: 'viewer', body: { password: 'short' } },
  { method: 'GET', route: '/me/clients', path: '/me/clients', min: 'viewer' },
  { method: 'DELETE', route: '/me/clients/:clientId', path: '/me/clients/none', min: 'viewer' },
  { method: 'GET', route: '/keys', path: '/keys', min: 'viewer' },
  { method: 'POST', route: '/keys', path: '/keys', min: 'viewer', body: { name: 'k', scopes: ['api'] } },
  { method: 'DELETE', route: '/keys/:id', path: '/keys/00000000-0000-0000-0000-000000000000', min: 'viewer' },
  { method: 'GET', route: '/org/members', path: '/org/members', min: 'viewer' },
  {
    method: 'PATCH',
    route: '/org/members/:userId',
    path: '/org/members/00000000-0000-0000-0000-000000000000',
    min: 'admin',
    body: { role: 'viewer' },
  },
  {
    method: 'DELETE',
    route: '/org/members/:userId',
    path: '/org/members/00000000-0000-0000-0000-000000000000',
    min: 'admin',
  },
  { method: 'GET', route: '/org/invitations', path: '/org/invitations', min: 'admin' },
  {
    method: 'POST',
    route: '/org/invitations',
    path: '/org/invitations',
    min: 'admin',
    body: { email: 'x@example.com', role: 'viewer' },
  },
  {
    method: 'DELETE',
    route: '/org/invitations/:id',
    path: '/org/invitations/00000000-0000-0000-0000-000000000000',
    min: 'admin',
  },
  { method: 'GET', route: '/audit', path: '/audit', min: 'admin' },
  { method: 'POST', route: '/admin/rotate-signing-key', path: '/admin/rotate-signing-key', min: 'owner' },
  { method: 'POST', route: '/generations', path: '/generations', min: 'developer', body: { prompt: 'an echo server' } },
  { method: 'GET', route: '/generations/:id', path: `/generations/${NO_ID}`, min: 'viewer' },
  {
    method: 'POST',
    route: '/generations/:id/confirm',
    path: `/generations/${NO_ID}/confirm`,
    min: 'developer',
    body: {},
  },
  { method: 'GET', route: '/generations/:id/events', path: `/generations/${NO_ID}/events`, min: 'viewer' },
  { method: 'POST', route: '/openapi/operations', path: '/openapi/operations', min: 'viewer', body: { openapi: {} } },
  { method: 'GET', route: '/openapi/operations', path: '/openapi/operations', min: 'viewer' },
  { method: 'GET', route: '/templates', path: '/templates', min: 'viewer' },
  { method: 'GET', route: '/templates/:ref', path: '/templates/echo', min: 'viewer' },
  { method: 'POST', route: '/servers/:name/publish', path: '/servers/delta/publish', min: 'admin', body: {} },
  { method: 'POST', route: '/templates/:ref/takedown', path: '/templates/none/takedown', min: 'admin', body: {} },
  {
    method: 'GET',
    route: '/servers/:name/changes/:number/diff',
    path: '/servers/delta/changes/1/diff',
    min: 'viewer',
  },
  { method: 'POST', route: '/me/setup-link', path: '/me/setup-link', min: 'viewer' },
  { method: 'GET', route: '/servers/:name/tools', path: '/servers/delta/tools', min: 'viewer' },
  {
    method: 'GET',
    route: '/servers/:name/changes/:number/views/:view',
    path: '/servers/delta/changes/1/views/grid',
    min: 'viewer',
  },
  {
    method: 'POST',
    route: '/servers/:name/tools/:tool/call',
    path: '/servers/delta/tools/echo/call',
    min: 'viewer',
    body: { arguments: { text: 'x' } },
  },
  {
    method: 'POST',
    route: '/servers/:name/rollback',
    path: '/servers/delta/rollback',
    min: 'developer',
    body: { revision: '0000000000000000000000000000000000000000' },
  },
];

const rank = (role: Role) => ROLES.length - ROLES.indexOf(role);

/** Acceptance: every API route refuses a member whose role is too low. */
describe('roles on every API route', () => {
  let stack: TestStack;
  const keys: Partial<Record<Role, string>> = {};

  beforeAll(async () => {
    stack = await TestStack.start();
    keys.owner = stack.key;
    const created = await stack.api('POST', '/api/v1/servers', { name: 'delta', template: 'echo' });
    expect(created.status).toBe(201);
    for (const role of ['admin', 'developer', 'viewer'] as const) {
      const email = `${role}@example.com`;
      const invite = await stack.api<{ token: string }>('POST', '/api/v1/org/invitations', { email, role });
      expect(invite.status).toBe(201);
      // Sign up with the invitation in a browser session, then make a key with it (CSRF header required).
      const signup = await fetch(`${stack.url}/auth/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: PASSWORD, invitation: invite.body.token }),
      });
      expect(signup.status).toBe(201);
      const { csrfToken } = (await signup.json()) as { csrfToken: string };
      const cookie = (signup.headers.get('set-cookie') ?? '').split(';')[0] as string;
      const noCsrf = await stack.api('POST', '/api/v1/keys', { name: role }, { key: null, headers: { cookie } });
      expect(noCsrf.body).toEqual({
        error: { code: 'csrf_failed', message: 'send the X-CSRF-Token your sign-in returned (GET /auth/session)' },
      });
      const key = await stack.api<{ key: string }>(
        'POST',
        '/api/v1/keys',
        { name: role },
        {
          key: null,
          headers: { cookie, 'x-csrf-token': csrfToken },
        },
      );
      expect(key.status).toBe(201);
      keys[role] = key.body.key;
    }
  }, 120_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  it('the table covers every route of the API', () => {
    const served = routesOf(apiRouter(stack.platform.ctx)).map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(served.sort()).toEqual(TABLE.map((r) => `${r.method} ${r.route}`).sort());
  });

  it('the OpenAPI document names the same weakest role for every route', async () => {
    type Doc = { paths: Record<string, Record<string, { 'x-bmms-role': Role | 'operator' | null }>> };
    const doc = (await stack.api<Doc>('GET', '/api/v1/openapi.json')).body;
    for (const r of TABLE) {
      const role = doc.paths[openApiPath(r.route)]?.[r.method.toLowerCase()]?.['x-bmms-role'];
      // The operator's owner is an owner; a route open to anyone refuses no role.
      const weakest = role === 'operator' ? 'owner' : role === null ? 'viewer' : role;
      expect(weakest, `${r.method} ${r.route}`).toBe(r.min);
    }
  });

  const cases = TABLE.flatMap((r) =>
    ROLES.filter((role) => rank(role) < rank(r.min)).map((role) => [`${r.method} ${r.path}`, role, r] as const),
  );

  it.each(cases)('%s refuses a %s', async (_name, role, r) => {
    const res = await stack.api(r.method, `/api/v1${r.path}`, r.body, { key: keys[role] as string });
    expect(res.status).toBe(403);
    expect((res.body as { error: { code: string } }).error.code).toBe('forbidden');
  });

  it('the weakest allowed role is not refused for its role (reads)', async () => {
    for (const r of TABLE.filter((t) => t.method === 'GET')) {
      const res = await stack.api(r.method, `/api/v1${r.path}`, undefined, { key: keys[r.min] as string });
      expect(res.status, `${r.method} ${r.path} as ${r.min}`).not.toBe(403);
    }
  });

  it('git: a viewer may clone but not push; a developer may push a branch but not main', async () => {
    const url = (key: string) => {
      const u = new URL(`${stack.url}/git/delta.git`);
      u.username = 'x';
      u.password = key;
      return u.toString();
    };
    const wd = await stack.clone('delta');
    await wd.git('remote', 'add', 'viewer', url(keys.viewer as string));
    await wd.git('remote', 'add', 'developer', url(keys.developer as string));
    await wd.git('fetch', '-q', 'viewer');
    await wd.git('commit', '-q', '--allow-empty', '-m', 'touch');
    await expect(wd.git('push', '-q', 'viewer', 'HEAD:refs/heads/viewer-branch')).rejects.toThrow();
    await wd.git('push', '-q', 'developer', 'HEAD:refs/heads/dev-branch');
    await expect(wd.git('push', '-q', 'developer', 'HEAD:main')).rejects.toThrow();
  });
});
