import { createPrivateKey, sign } from 'node:crypto';
import { Octokit } from '@octokit/rest';

/** A GitHub App installation: the app, its private key (PEM) and the installation the platform acts as. */
export interface AppInstallation {
  appId: string;
  privateKey: string;
  installationId: string;
}

/** Renewed this long before GitHub says an installation token expires. */
const RENEW_BEFORE_MS = 5 * 60_000;

const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

/**
 * The app's JSON web token (RS256, issued a minute in the past against clock drift, valid 9 minutes): what GitHub
 * takes to hand out installation tokens.
 */
export function appJwt(appId: string, privateKey: string, now = Date.now()): string {
  const seconds = Math.floor(now / 1000);
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify({ iat: seconds - 60, exp: seconds + 9 * 60, iss: appId }));
  const signature = sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), createPrivateKey(privateKey));
  return `${header}.${payload}.${base64url(signature)}`;
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

/**
 * Short-lived installation tokens of one app installation, fetched with the app's JWT and reused until shortly
 * before they expire (GitHub's are valid an hour).
 */
export class InstallationTokens {
  readonly #installation: AppInstallation;
  readonly #octokit: Octokit;
  readonly #now: () => number;
  #current: { token: string; expiresAt: number } | undefined;
  #pending: Promise<string> | undefined;

  constructor(installation: AppInstallation, baseUrl: string, now: () => number = Date.now) {
    this.#installation = installation;
    this.#now = now;
    this.#octokit = new Octokit({
      baseUrl: baseUrl.replace(/\/+$/, ''),
      userAgent: 'BuildMyMCPServer',
      log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    });
  }

  /** The installation's account (what "connected as …" shows). */
  async account(): Promise<string> {
    const { data } = await this.#octokit.apps.getInstallation({
      installation_id: Number(this.#installation.installationId),
      headers: { authorization: `bearer ${this.#jwt()}` },
    });
    const account = data.account as { login?: string; slug?: string } | null;
    return account?.login ?? account?.slug ?? `installation ${this.#installation.installationId}`;
  }

  /** A valid installation token (one request to GitHub at most per hour, shared by concurrent callers). */
  async token(): Promise<string> {
    if (this.#current && this.#current.expiresAt - RENEW_BEFORE_MS > this.#now()) return this.#current.token;
    this.#pending ??= this.#fetch().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #fetch(): Promise<string> {
    const { data } = await this.#octokit.apps.createInstallationAccessToken({
      installation_id: Number(this.#installation.installationId),
      headers: { authorization: `bearer ${this.#jwt()}` },
    });
    this.#current = { token: data.token, expiresAt: Date.parse(data.expires_at) };
    return data.token;
  }

  #jwt(): string {
    return appJwt(this.#installation.appId, this.#installation.privateKey, this.#now());
  }
}
