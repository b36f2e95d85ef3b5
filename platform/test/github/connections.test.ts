import { randomBytes } from 'node:crypto';
import { openDatabase } from '@bmms/prisma';
import { createTestDatabase } from '@bmms/prisma/testing';
import { describe, expect, it } from 'vitest';
import { GitHubConnections } from '../../src/github/connections.ts';
import { SecretStore } from '../../src/secrets/store.ts';
import { GitHubStandIn } from './standin.ts';

const TOKEN = 'github_pat_rotation_0123456789abc';

describe('GitHub connections and the master key', () => {
  it('are re-encrypted under the new key when it rotates, and still work once the old key is dropped', async () => {
    const github = await new GitHubStandIn({ tokens: { [TOKEN]: 'acme-dev' } }).start();
    const t = await createTestDatabase();
    const database = await openDatabase({ dataDir: t.dataDir, databaseUrl: t.url });
    try {
      const { db } = database;
      const org = await db.org.create({ data: { slug: 'rotating', name: 'Rotating' } });
      const v1 = randomBytes(32);
      const v2 = randomBytes(32);
      const before = new SecretStore({ db, keyring: { current: 'v1', keys: new Map([['v1', v1]]) } });
      const { webhookSecret } = await new GitHubConnections({ db, sealer: before, apiUrl: github.url }).connect(
        org.id,
        { token: TOKEN },
      );

      const both = new SecretStore({
        db,
        keyring: {
          current: 'v2',
          keys: new Map([
            ['v2', v2],
            ['v1', v1],
          ]),
        },
      });
      expect(await new GitHubConnections({ db, sealer: both, apiUrl: github.url }).reseal('v2')).toBe(1);
      const row = await db.gitHubConnection.findUniqueOrThrow({ where: { orgId: org.id } });
      expect([row.keyVersion, row.webhookKeyVersion]).toEqual(['v2', 'v2']);

      const after = new SecretStore({ db, keyring: { current: 'v2', keys: new Map([['v2', v2]]) } });
      const connections = new GitHubConnections({ db, sealer: after, apiUrl: github.url });
      expect(await connections.webhookSecret(org.id)).toBe(webhookSecret);
      const { octokit } = await connections.account(org.id);
      expect((await octokit.users.getAuthenticated()).data.login).toBe('acme-dev');
      expect(await connections.reseal('v2')).toBe(0);
      expect(github.violations).toEqual([]);
    } finally {
      await database.close();
      await t.drop();
      await github.stop();
    }
  }, 60_000);
});
