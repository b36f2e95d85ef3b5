import type { Prisma, PrismaClient } from '@bmms/prisma';
import express, { type Request, type RequestHandler, type Response, Router } from 'express';
import { githubWebhookUnverified, invalidRequest, notFound, webhookReplayed } from '../errors.ts';
import type { GitHubConnections } from './connections.ts';
import { actOnEvent, type GitHubEventDeps } from './events.ts';
import { type DeliveryLedger, WebhookReceiver } from './webhooks.ts';

/** What receiving GitHub's webhooks needs: the orgs' webhook secrets, and what acting on an event needs. */
export interface WebhookRouteDeps extends GitHubEventDeps {
  githubConnections: Pick<GitHubConnections, 'webhookSecret' | 'setProblem' | 'reinstalled'>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** GitHub caps a delivery's payload at 25 MB. */
const MAX_DELIVERY = '25mb';

/** Delivery ids in the database: one row per id acted on, so a replay is refused by every replica, after restarts. */
class DatabaseLedger implements DeliveryLedger {
  readonly #db: PrismaClient;
  readonly #orgId: string;
  constructor(db: PrismaClient, orgId: string) {
    this.#db = db;
    this.#orgId = orgId;
  }
  async claim(id: string, event: string): Promise<boolean> {
    try {
      await this.#db.gitHubDelivery.create({ data: { id, orgId: this.#orgId, event } });
      return true;
    } catch (err) {
      if ((err as Prisma.PrismaClientKnownRequestError).code === 'P2002') return false;
      throw err;
    }
  }
  async release(id: string): Promise<void> {
    await this.#db.gitHubDelivery.deleteMany({ where: { id } });
  }
}

/**
 * POST /github/webhooks/<org id>: GitHub's deliveries for one org. The signature is checked on the raw bytes with
 * the org's webhook secret before anything is parsed (401 `github_webhook_unverified`); a delivery id is acted on
 * once (409 `webhook_replayed`); the handled events are acted on before the answer (202), so GitHub redelivers a
 * delivery whose handling failed.
 */
export function githubWebhookRouter(ctx: WebhookRouteDeps): Router {
  const router = Router();
  const receivers = new Map<string, { secret: string; receiver: WebhookReceiver }>();
  const receiverOf = (orgId: string, secret: string): WebhookReceiver => {
    const kept = receivers.get(orgId);
    if (kept?.secret === secret) return kept.receiver;
    const receiver = new WebhookReceiver({
      secret,
      ledger: new DatabaseLedger(ctx.db, orgId),
      handle: (event, payload) => actOnEvent(ctx, orgId, event, payload),
    });
    receivers.set(orgId, { secret, receiver });
    return receiver;
  };
  const receive: RequestHandler = async (req: Request, res: Response) => {
    const orgId = String(req.params.org ?? '');
    const secret = UUID.test(orgId) ? await ctx.githubConnections.webhookSecret(orgId) : null;
    if (secret === null) throw notFound('GitHub connection', 'connect GitHub in Settings → GitHub first');
    const rawBody = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    const result = await receiverOf(orgId, secret).receive({
      id: String(req.headers['x-github-delivery'] ?? ''),
      name: String(req.headers['x-github-event'] ?? ''),
      signature: String(req.headers['x-hub-signature-256'] ?? ''),
      rawBody,
    });
    if (result.status === 'refused') {
      if (result.reason === 'forged') throw githubWebhookUnverified();
      if (result.reason === 'replayed') throw webhookReplayed(String(req.headers['x-github-delivery']));
      throw invalidRequest('a GitHub delivery needs X-GitHub-Delivery, X-Hub-Signature-256 and a JSON body');
    }
    res.status(202).json(result);
  };
  router.post('/github/webhooks/:org', express.raw({ type: () => true, limit: MAX_DELIVERY }), receive);
  return router;
}
