import type { PlanId } from '../plans.ts';

/** Subscription statuses that pay for the plan (past_due: Stripe is still retrying the payment). */
const LIVE_STATUSES: ReadonlySet<string> = new Set(['active', 'trialing', 'past_due']);

/** Whether a subscription in `status` pays for its plan. */
export const isLive = (status: string | null | undefined): boolean => status != null && LIVE_STATUSES.has(status);

/** An org's subscription as stored: the one billing treats as current, as it last was. */
export interface StoredSubscription {
  id: string | null;
  status: string | null;
  createdAt: Date | null;
}

/** A subscription as Stripe holds it now (retrieved, not taken from an event's payload). */
export interface SubscriptionFacts {
  id: string;
  status: string;
  createdAt: Date;
  /** The plan its price stands for; null: a price that is none of the configured ones. */
  plan: Exclude<PlanId, 'hobby' | 'self-hosted' | 'enterprise'> | null;
  periodEnd: Date | null;
}

/** What to do with an org given a subscription: write it as the current one, or leave the org as it is and why. */
export type Decision = { apply: true; plan: PlanId | null; adopt: boolean } | { apply: false; reason: string };

/**
 * Decides from the subscription's own state and timestamps, never from the order events arrived in: the current
 * subscription's state is always written (it was just retrieved); another subscription of the customer replaces it
 * only when it is live and the current one is not, or is older. A live subscription pays for its price's plan;
 * anything else leaves the org on the default plan (null).
 */
export function decide(stored: StoredSubscription, sub: SubscriptionFacts): Decision {
  const live = isLive(sub.status);
  if (live && sub.plan === null) {
    return { apply: false, reason: `subscription ${sub.id} has a price that is not STRIPE_PRICE_PRO or _TEAM` };
  }
  const plan = live ? sub.plan : null;
  if (stored.id === sub.id) return { apply: true, plan, adopt: false };
  if (!live) {
    return {
      apply: false,
      reason: `subscription ${sub.id} is ${sub.status} and not the organization's current one (${stored.id ?? 'none'})`,
    };
  }
  const currentLive = stored.id !== null && isLive(stored.status);
  if (currentLive && stored.createdAt !== null && stored.createdAt > sub.createdAt) {
    return { apply: false, reason: `subscription ${sub.id} is older than the current one (${stored.id})` };
  }
  return { apply: true, plan, adopt: true };
}
