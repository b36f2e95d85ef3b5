/**
 * The one table of plans. The checks (a server's bounds), the gateway (monthly calls), the API (server count,
 * GET /api/v1/usage), the pricing page (site/src/data/plans.json) and the docs (site/src/content/docs/plans.md) all
 * read it; test/plans-table.test.ts fails when the site or the docs say anything else.
 */

/** What one server of a plan may be: the upper bounds the checks and the runtimes enforce. */
export interface ServerBounds {
  /** Upper bounds for `mcp.json` `limits`. */
  limits: { cpu: number; memoryMb: number; timeoutMs: number };
  /** Tools one server may declare. */
  maxTools: number;
  /**
   * Token budget (o200k_base) of the text a model reads about the tools: each tool's title,
   * description and every description/title inside its inputSchema. Per tool and summed over all.
   */
  descriptionTokens: { perTool: number; total: number };
}

/** A plan: its price, what an org on it may use, and the bounds of each of its servers. */
export interface Plan extends ServerBounds {
  id: PlanId;
  name: string;
  /** Euros a month; `from`: the price starts there (set per org). Null: not sold (the self-hosted default). */
  price: { eurPerMonth: number; from: boolean } | null;
  /** Servers an org may have; null: no limit. */
  servers: number | null;
  /** Successful `tools/call` requests to production servers per calendar month (UTC); null: no limit. */
  monthlyCalls: number | null;
  /** What the plan adds, as the pricing page lists it. */
  features: string[];
  /** Whether its orgs' check suites start before other orgs' when suites wait for a slot ("Priority checks"). */
  priorityChecks: boolean;
  /** Whether its servers may answer on custom domains of their own ("Custom domain"). */
  customDomains: boolean;
}

export const PLAN_IDS = ['hobby', 'pro', 'team', 'enterprise', 'self-hosted'] as const;
export type PlanId = (typeof PLAN_IDS)[number];

/** The plans sold, in the order of the pricing page. */
export const SOLD_PLANS = ['hobby', 'pro', 'team', 'enterprise'] as const satisfies readonly PlanId[];

const HOBBY_BOUNDS: ServerBounds = {
  limits: { cpu: 0.5, memoryMb: 512, timeoutMs: 30_000 },
  maxTools: 20,
  descriptionTokens: { perTool: 500, total: 4_000 },
};

/** Every plan, as data. */
export const PLANS: Readonly<Record<PlanId, Plan>> = {
  hobby: {
    id: 'hobby',
    name: 'Hobby',
    price: { eurPerMonth: 0, from: false },
    servers: 1,
    monthlyCalls: 100_000,
    features: ['Platform subdomain', 'Checks, previews and rollbacks'],
    priorityChecks: false,
    customDomains: false,
    ...HOBBY_BOUNDS,
  },
  pro: {
    id: 'pro',
    name: 'Pro',
    price: { eurPerMonth: 49, from: false },
    servers: 5,
    monthlyCalls: 1_000_000,
    features: ['Custom domain', 'Priority checks'],
    priorityChecks: true,
    customDomains: true,
    limits: { cpu: 2, memoryMb: 2_048, timeoutMs: 300_000 },
    maxTools: 100,
    descriptionTokens: { perTool: 1_500, total: 30_000 },
  },
  team: {
    id: 'team',
    name: 'Team',
    price: { eurPerMonth: 149, from: false },
    servers: 25,
    monthlyCalls: 10_000_000,
    features: ['Custom domain', 'Priority checks', 'Roles and audit log'],
    priorityChecks: true,
    customDomains: true,
    limits: { cpu: 4, memoryMb: 4_096, timeoutMs: 900_000 },
    maxTools: 200,
    descriptionTokens: { perTool: 1_500, total: 60_000 },
  },
  enterprise: {
    id: 'enterprise',
    name: 'Enterprise',
    price: { eurPerMonth: 499, from: true },
    // Set per org (orgs.plan_servers, orgs.plan_calls); without them, no limit.
    servers: null,
    monthlyCalls: null,
    features: ['Limits set per organization', 'Custom domain', 'Priority checks', 'Roles and audit log'],
    priorityChecks: true,
    customDomains: true,
    limits: { cpu: 8, memoryMb: 16_384, timeoutMs: 900_000 },
    maxTools: 500,
    descriptionTokens: { perTool: 2_000, total: 200_000 },
  },
  // What an operator's orgs are on unless billing says otherwise (BMMS_DEFAULT_PLAN): no limit on servers, calls or
  // rates; each server keeps Hobby's bounds, as every server had before plans were sold.
  'self-hosted': {
    id: 'self-hosted',
    name: 'Self-hosted',
    price: null,
    servers: null,
    monthlyCalls: null,
    features: ['No limit on servers or calls'],
    priorityChecks: false,
    customDomains: true,
    ...HOBBY_BOUNDS,
  },
};

/** The plan the operator's orgs are on by default (BMMS_DEFAULT_PLAN). */
export const DEFAULT_PLAN: PlanId = 'self-hosted';

/** Whether `id` names a plan. */
export function isPlanId(id: string): id is PlanId {
  return (PLAN_IDS as readonly string[]).includes(id);
}

/** An org's plan as stored: its id (null: the operator's default) and, for Enterprise, limits of its own. */
export interface OrgPlanRow {
  plan: string | null;
  planServers: number | null;
  planCalls: number | null;
}

/** The plan an org is on: its row's plan (or `fallback`), with the org's own limits where it has them. */
export function resolvePlan(row: OrgPlanRow | null, fallback: PlanId = DEFAULT_PLAN): Plan {
  const id = row?.plan && isPlanId(row.plan) ? row.plan : fallback;
  const plan = PLANS[id];
  if (!row || (row.planServers === null && row.planCalls === null)) return plan;
  return {
    ...plan,
    servers: row.planServers ?? plan.servers,
    monthlyCalls: row.planCalls ?? plan.monthlyCalls,
  };
}

/** The plan whose bounds apply when nobody says which org: Hobby's (the tightest sold). */
export function planFor(_orgId?: string | null): Plan {
  return PLANS.hobby;
}

/** The plans sold, as the pricing page shows them (site/src/data/plans.json holds exactly this). */
export function pricingTable(): Array<Pick<Plan, 'id' | 'name' | 'price' | 'servers' | 'monthlyCalls' | 'features'>> {
  return SOLD_PLANS.map((id) => {
    const { name, price, servers, monthlyCalls, features } = PLANS[id];
    return { id, name, price, servers, monthlyCalls, features };
  });
}
