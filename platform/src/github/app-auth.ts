import { createPrivateKey } from 'node:crypto';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';

/** A GitHub App installation: the app, its private key (PEM) and the installation the platform acts as. */
export interface AppInstallation {
  appId: string;
  privateKey: string;
  installationId: string;
}

/** GitHub refused the app an installation token: the installation is gone (uninstalled) or suspended. */
export class InstallationTokenRefused extends Error {
  /**
   * GitHub's status of the token request (404: no such installation, 403: suspended). Not `status`: that would read
   * as the answer to the request the token was for (a 404 there means "no such repository").
   */
  readonly githubStatus: number | undefined;
  constructor(installationId: string, status: number | undefined, said: string) {
    super(
      `GitHub refuses tokens to the app installation ${installationId} (${status ?? 'no answer'} ${said}): the app was uninstalled or suspended; install it again on GitHub`,
    );
    this.name = 'InstallationTokenRefused';
    this.githubStatus = status;
  }
}

/** Whether a private key is a PEM key Node can sign with (checked when connecting, before GitHub is asked). */
export function isPrivateKey(pem: string): boolean {
  try {
    createPrivateKey(pem);
    return true;
  } catch {
    return false;
  }
}

/** Octokit's console warnings would leak into the platform's output: failures surface as errors instead. */
const QUIET = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/**
 * Short-lived installation tokens of one app installation, through Octokit's auth library for apps: the app's JSON
 * web token (RS256, corrected for clock drift), installation tokens reused until shortly before they expire (GitHub's
 * are valid an hour), one request to GitHub for concurrent callers.
 */
export class InstallationTokens {
  readonly #installation: AppInstallation;
  readonly #octokit: Octokit;
  readonly #auth: ReturnType<typeof createAppAuth>;
  #pending: Promise<string> | undefined;

  constructor(installation: AppInstallation, baseUrl: string) {
    this.#installation = installation;
    this.#octokit = new Octokit({ baseUrl: baseUrl.replace(/\/+$/, ''), userAgent: 'BuildMyMCPServer', log: QUIET });
    this.#auth = createAppAuth({
      appId: installation.appId,
      privateKey: installation.privateKey,
      installationId: installation.installationId,
      request: this.#octokit.request,
      log: QUIET,
    });
  }

  /** The installation's account (what "connected as …" shows). */
  async account(): Promise<string> {
    const { token } = await this.#auth({ type: 'app' });
    const { data } = await this.#octokit.apps.getInstallation({
      installation_id: Number(this.#installation.installationId),
      headers: { authorization: `bearer ${token}` },
    });
    const account = data.account as { login?: string; slug?: string } | null;
    return account?.login ?? account?.slug ?? `installation ${this.#installation.installationId}`;
  }

  /**
   * A valid installation token; `renew` asks GitHub for a new one instead of the one kept. A refusal is an
   * `InstallationTokenRefused`.
   */
  async token(renew = false): Promise<string> {
    this.#pending ??= this.#fetch(renew).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #fetch(renew: boolean): Promise<string> {
    const { installationId } = this.#installation;
    try {
      return (await this.#auth({ type: 'installation', refresh: renew })).token;
    } catch (err) {
      const { status, response } = err as { status?: number; response?: { data?: { message?: unknown } } };
      if (status === undefined || status >= 500) throw err;
      const said = typeof response?.data?.message === 'string' ? response.data.message : '';
      throw new InstallationTokenRefused(installationId, status, said);
    }
  }
}
