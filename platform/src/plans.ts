/** What a plan allows one server: the upper bounds the checks and the runtimes enforce. */
export interface Plan {
  id: PlanId;
  name: string;
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

export type PlanId = 'free' | 'pro';

/** Every plan, as data (billing will attach prices and pick one per org). */
export const PLANS: Readonly<Record<PlanId, Plan>> = {
  free: {
    id: 'free',
    name: 'Free',
    limits: { cpu: 0.5, memoryMb: 512, timeoutMs: 30_000 },
    maxTools: 20,
    descriptionTokens: { perTool: 500, total: 4_000 },
  },
  pro: {
    id: 'pro',
    name: 'Pro',
    limits: { cpu: 2, memoryMb: 2_048, timeoutMs: 300_000 },
    maxTools: 100,
    descriptionTokens: { perTool: 1_500, total: 30_000 },
  },
};

/** The plan of an org. Until billing lands every org is on `free`. */
export function planFor(_orgId?: string | null): Plan {
  return PLANS.free;
}
