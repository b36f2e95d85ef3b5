import { randomBytes } from 'node:crypto';
import type { GitHubConnection, PrismaClient } from '@bmms/prisma';
import type { Octokit } from '@octokit/rest';
import { githubCredentialsRefused, githubNotConnected, githubRequestFailed, invalidRequest } from '../errors.ts';
import type { SecretStore } from '../secrets/store.ts';
import { type AppInstallation, InstallationTokenRefused, InstallationTokens, isPrivateKey } from './app-auth.ts';
import { githubClient, githubMessage, statusOf } from './client.ts';

/** GitHub's REST API when GITHUB_API_URL says nothing else. */
export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';

/** What connecting takes: a fine-grained personal access token, or a GitHub App installation. */
export type ConnectInput =
  | { token: string; webhookSecret?: string | undefined }
  | { appId: string; privateKey: string; installationId: string; webhookSecret?: string | undefined };

/** An org's connection as the API shows it: never the token, the key or the webhook secret. */
export interface ConnectionView {
  connected: boolean;
  kind: 'token' | 'app' | null;
  /** "connected as …": the token's user, or the account the app is installed on. */
  login: string | null;
  apiUrl: string;
  appId: string | null;
  installationId: string | null;
  /** Why GitHub refuses the connection now (a revoked token, an uninstalled app); null when it works. */
  problem: string | null;
  connectedAt: string | null;
}

/** An org's GitHub account, ready to call. */
export interface GitHubAccount {
  octokit: Octokit;
  login: string;
  kind: 'token' | 'app';
}

/** Binds a sealed value to its org and purpose (it cannot be moved to another org or field). */
const scopeOf = (orgId: string) => `github:${orgId}`;
const CREDENTIAL = 'credential';
const WEBHOOK = 'webhook-secret';
/** How long a built client is reused before the row is read again (another process may have reconnected). */
const CLIENT_TTL_MS = 10_000;

/**
 * Per-org connections to GitHub: verified against GitHub when made, stored encrypted (AES-256-GCM under the master
 * key, like server secrets), shown only as "connected as …", and turned into authenticated clients on demand.
 */
export class GitHubConnections {
  readonly #db: PrismaClient;
  readonly #sealer: Pick<SecretStore, 'seal' | 'open'>;
  readonly #apiUrl: string;
  readonly #clients = new Map<string, { stamp: number; readAt: number; account: GitHubAccount }>();

  constructor(deps: { db: PrismaClient; sealer: Pick<SecretStore, 'seal' | 'open'>; apiUrl?: string | undefined }) {
    this.#db = deps.db;
    this.#sealer = deps.sealer;
    this.#apiUrl = (deps.apiUrl ?? DEFAULT_GITHUB_API_URL).replace(/\/+$/, '');
  }

  /** The API every new connection talks to (GITHUB_API_URL). */
  get apiUrl(): string {
    return this.#apiUrl;
  }

  /**
   * Verifies the credential with GitHub (the token's user, or the app's installation and a first installation
   * token), then stores it encrypted, replacing any earlier connection. Returns the view and the webhook secret
   * (the one given, or a new one: shown this once).
   */
  async connect(orgId: string, input: ConnectInput): Promise<{ view: ConnectionView; webhookSecret: string }> {
    const { kind, login, credential } = await this.#verify(input);
    const webhookSecret = input.webhookSecret ?? randomBytes(24).toString('base64url');
    const sealed = this.#sealer.seal(scopeOf(orgId), CREDENTIAL, credential);
    const hook = this.#sealer.seal(scopeOf(orgId), WEBHOOK, webhookSecret);
    const data = {
      kind,
      apiUrl: this.#apiUrl,
      login,
      appId: 'appId' in input ? input.appId : null,
      installationId: 'installationId' in input ? input.installationId : null,
      ...sealed,
      webhookKeyVersion: hook.keyVersion,
      webhookIv: hook.iv,
      webhookTag: hook.tag,
      webhookCiphertext: hook.ciphertext,
      problem: null,
      updatedAt: new Date(),
    };
    const row = await this.#db.gitHubConnection.upsert({
      where: { orgId },
      create: { orgId, ...data },
      update: { ...data, createdAt: new Date() },
    });
    this.#clients.delete(orgId);
    return { view: this.#view(row), webhookSecret };
  }

  async #verify(input: ConnectInput): Promise<{ kind: 'token' | 'app'; login: string; credential: string }> {
    if ('token' in input) {
      const token = input.token.trim();
      if (!/^[\x21-\x7e]{8,255}$/.test(token)) throw invalidRequest('"token" must be a GitHub token (github_pat_…)');
      try {
        const { data } = await githubClient({
          baseUrl: this.#apiUrl,
          auth: token,
          attempts: 2,
        }).users.getAuthenticated();
        return { kind: 'token', login: data.login, credential: token };
      } catch (err) {
        throw refusal('the token', err);
      }
    }
    if (!/^\d{1,20}$/.test(input.appId)) throw invalidRequest('"appId" must be the GitHub App\'s numeric id');
    if (!/^\d{1,20}$/.test(input.installationId)) {
      throw invalidRequest('"installationId" must be the numeric id of the app\'s installation');
    }
    if (!isPrivateKey(input.privateKey)) {
      throw invalidRequest('"privateKey" must be the GitHub App\'s private key (the PEM file GitHub generated)');
    }
    const tokens = new InstallationTokens(input, this.#apiUrl);
    try {
      const login = await tokens.account();
      await tokens.token();
      return { kind: 'app', login, credential: input.privateKey };
    } catch (err) {
      throw refusal('the app installation', err);
    }
  }

  /** Removes the org's connection (its servers on GitHub stop syncing until it is connected again). */
  async disconnect(orgId: string): Promise<boolean> {
    const { count } = await this.#db.gitHubConnection.deleteMany({ where: { orgId } });
    this.#clients.delete(orgId);
    return count > 0;
  }

  /** The org's connection as the API shows it. */
  async view(orgId: string): Promise<ConnectionView> {
    const row = await this.#db.gitHubConnection.findUnique({ where: { orgId } });
    return row
      ? this.#view(row)
      : {
          connected: false,
          kind: null,
          login: null,
          apiUrl: this.#apiUrl,
          appId: null,
          installationId: null,
          problem: null,
          connectedAt: null,
        };
  }

  #view(row: GitHubConnection): ConnectionView {
    return {
      connected: true,
      kind: row.kind === 'app' ? 'app' : 'token',
      login: row.login,
      apiUrl: row.apiUrl,
      appId: row.appId,
      installationId: row.installationId,
      problem: row.problem,
      connectedAt: row.createdAt.toISOString(),
    };
  }

  /** The org's webhook secret (deliveries are verified with it), or null when it is not connected. */
  async webhookSecret(orgId: string): Promise<string | null> {
    const row = await this.#db.gitHubConnection.findUnique({ where: { orgId } });
    if (!row) return null;
    return this.#sealer.open(scopeOf(orgId), WEBHOOK, webhookSealed(row));
  }

  /** An authenticated client of the org's connection; `github_not_connected` without one. */
  async account(orgId: string): Promise<GitHubAccount> {
    const cached = this.#clients.get(orgId);
    if (cached && Date.now() - cached.readAt < CLIENT_TTL_MS) return cached.account;
    const row = await this.#db.gitHubConnection.findUnique({ where: { orgId } });
    if (!row) {
      this.#clients.delete(orgId);
      throw githubNotConnected();
    }
    const stamp = row.updatedAt.getTime();
    if (cached && cached.stamp === stamp) {
      cached.readAt = Date.now();
      return cached.account;
    }
    const credential = this.#sealer.open(scopeOf(orgId), CREDENTIAL, row);
    const auth =
      row.kind === 'app'
        ? (() => {
            const installation: AppInstallation = {
              appId: row.appId ?? '',
              privateKey: credential,
              installationId: row.installationId ?? '',
            };
            const tokens = new InstallationTokens(installation, row.apiUrl);
            return (renew?: boolean) => tokens.token(renew);
          })()
        : credential;
    const account: GitHubAccount = {
      octokit: githubClient({ baseUrl: row.apiUrl, auth }),
      login: row.login,
      kind: row.kind === 'app' ? 'app' : 'token',
    };
    this.#clients.set(orgId, { stamp, readAt: Date.now(), account });
    return account;
  }

  /**
   * Re-encrypts every connection's credential and webhook secret not yet under the current master key (with the
   * secrets, when the master key is rotated); returns how many rows changed.
   */
  async reseal(current: string): Promise<number> {
    const rows = await this.#db.gitHubConnection.findMany({
      where: { OR: [{ keyVersion: { not: current } }, { webhookKeyVersion: { not: current } }] },
    });
    for (const row of rows) {
      const scope = scopeOf(row.orgId);
      const credential = this.#sealer.open(scope, CREDENTIAL, row);
      const hook = this.#sealer.seal(scope, WEBHOOK, this.#sealer.open(scope, WEBHOOK, webhookSealed(row)));
      await this.#db.gitHubConnection.updateMany({
        where: { orgId: row.orgId, updatedAt: row.updatedAt },
        data: {
          ...this.#sealer.seal(scope, CREDENTIAL, credential),
          webhookKeyVersion: hook.keyVersion,
          webhookIv: hook.iv,
          webhookTag: hook.tag,
          webhookCiphertext: hook.ciphertext,
        },
      });
    }
    this.#clients.clear();
    return rows.length;
  }

  /**
   * The org's app was installed again on its account (GitHub's `installation` `created`): the connection follows the
   * new installation and its problem is cleared. Returns the installation it replaced, or null when the connection
   * is not that app's on that account (nothing changes).
   */
  async reinstalled(
    orgId: string,
    installation: { appId: string; installationId: string; account: string },
  ): Promise<string | null> {
    const row = await this.#db.gitHubConnection.findUnique({ where: { orgId } });
    if (row?.kind !== 'app' || row.appId !== installation.appId) return null;
    if (row.login.toLowerCase() !== installation.account.toLowerCase()) return null;
    await this.#db.gitHubConnection.update({
      where: { orgId },
      data: { installationId: installation.installationId, problem: null, updatedAt: new Date() },
    });
    this.#clients.delete(orgId);
    return row.installationId ?? '';
  }

  /** Records why GitHub refuses the org's connection now (null: it works again); returns whether it changed. */
  async setProblem(orgId: string, problem: string | null): Promise<boolean> {
    const row = await this.#db.gitHubConnection.findUnique({ where: { orgId }, select: { problem: true } });
    if (!row || row.problem === problem) return false;
    await this.#db.gitHubConnection.updateMany({ where: { orgId }, data: { problem } });
    return true;
  }
}

/** What GitHub's refusal of a credential becomes: the credential was refused (4xx), or GitHub failed (5xx, network). */
function refusal(what: string, err: unknown): Error {
  const status = err instanceof InstallationTokenRefused ? err.githubStatus : statusOf(err);
  if (status !== undefined && status >= 400 && status < 500) {
    return githubCredentialsRefused(what, status, githubMessage(err));
  }
  return githubRequestFailed(`verifying ${what}`, status ?? null, githubMessage(err));
}

/** The sealed webhook secret of a row. */
function webhookSealed(row: GitHubConnection) {
  return {
    keyVersion: row.webhookKeyVersion,
    iv: row.webhookIv,
    tag: row.webhookTag,
    ciphertext: row.webhookCiphertext,
  };
}
