import type { PrismaClient } from '@bmms/prisma';
import type { InvalidationBus } from '../invalidation.ts';
import { DEFAULT_PLAN, type Plan, type PlanId, resolvePlan } from '../plans.ts';

/** How long an org's plan is trusted from memory when no invalidation says it changed. */
const TTL_MS = 30_000;

export interface OrgPlansDeps {
  db: PrismaClient;
  /** The plan of every org whose row names none (BMMS_DEFAULT_PLAN). */
  defaultPlan?: PlanId;
  /** A plan change in any process reaches this one (kind `plan`). */
  invalidations?: InvalidationBus;
  now?: () => number;
}

/** Which plan each org is on, cached (the gateway asks on every call). */
export class OrgPlans {
  readonly defaultPlan: PlanId;
  readonly #deps: OrgPlansDeps;
  readonly #cache = new Map<string, { plan: Plan; until: number }>();
  readonly #unsubscribe: (() => void) | undefined;

  constructor(deps: OrgPlansDeps) {
    this.#deps = deps;
    this.defaultPlan = deps.defaultPlan ?? DEFAULT_PLAN;
    this.#unsubscribe = deps.invalidations?.subscribe((event) => {
      if (event.kind === 'plan') this.#cache.delete(event.orgId);
      else if (event.kind === 'all') this.#cache.clear();
    });
  }

  /** The plan of `orgId` from memory, if it is there and fresh (the gateway's path). */
  cached(orgId: string): Plan | undefined {
    const hit = this.#cache.get(orgId);
    if (hit && hit.until > this.#now()) return hit.plan;
    return undefined;
  }

  /** The plan of `orgId` (an unknown org is on the default plan). */
  async of(orgId: string): Promise<Plan> {
    const hit = this.cached(orgId);
    if (hit) return hit;
    const row = await this.#deps.db.org.findUnique({
      where: { id: orgId },
      select: { plan: true, planServers: true, planCalls: true },
    });
    const plan = resolvePlan(
      row && {
        plan: row.plan,
        planServers: row.planServers,
        planCalls: row.planCalls === null ? null : Number(row.planCalls),
      },
      this.defaultPlan,
    );
    const maxStale = this.#deps.invalidations?.maxStaleMs() ?? Number.POSITIVE_INFINITY;
    this.#cache.set(orgId, { plan, until: this.#now() + Math.min(TTL_MS, maxStale) });
    return plan;
  }

  /** The plan of the org that owns the server `serverName` (the checks' question); the default for an unknown one. */
  async ofServer(serverName: string): Promise<Plan> {
    const server = await this.#deps.db.server.findUnique({ where: { name: serverName }, select: { orgId: true } });
    return server ? this.of(server.orgId) : resolvePlan(null, this.defaultPlan);
  }

  /** Sets an org's plan and tells every process. */
  async set(orgId: string, plan: PlanId | null): Promise<void> {
    await this.#deps.db.org.update({ where: { id: orgId }, data: { plan } });
    await this.changed(orgId);
  }

  /** Tells every process that an org's plan was written (billing writes it with the subscription it came from). */
  async changed(orgId: string): Promise<void> {
    this.#cache.delete(orgId);
    await this.#deps.invalidations?.publish({ kind: 'plan', orgId });
  }

  close(): void {
    this.#unsubscribe?.();
  }

  #now(): number {
    return (this.#deps.now ?? Date.now)();
  }
}
