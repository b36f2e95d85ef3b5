import type { PrismaClient } from '@bmms/prisma';
import type { Logger } from '../logger.ts';
import type { Plan } from '../plans.ts';
import type { UsageMeter } from './meter.ts';

/** The shares of the monthly calls at which an org is told (an event, and an email when mail is configured). */
export const ALERT_PERCENTS = [80, 100] as const;

/** A call refused because the month's calls are used up: what the gateway answers. */
export interface QuotaRefusal {
  /** Seconds until the month resets (Retry-After). */
  retryAfterSeconds: number;
  message: string;
  data: { code: 'quota_exceeded'; plan: string; limit: number; used: number; resetsAt: string; upgrade: string };
}

/** One crossing of an alert share, as the event (and email hook) gets it. */
export interface QuotaAlert {
  orgId: string;
  month: string;
  percent: (typeof ALERT_PERCENTS)[number];
  plan: string;
  used: number;
  limit: number;
}

export interface QuotasDeps {
  usage: UsageMeter;
  db: PrismaClient;
  log: Logger;
  /** Sends the email of an alert; unset (no mail configured), the alert is logged instead. */
  mail?: (alert: QuotaAlert) => Promise<void>;
}

/** Where an org upgrades (relative to the platform's base URL). */
export const UPGRADE_PATH = '/settings/#billing';

/**
 * The plan's monthly calls at the gateway: from memory only (the meter's counts), refusing a tool call once the month's
 * successful calls reached the plan's limit, until the calendar month (UTC) ends. Crossing 80 % and 100 % records an
 * event once per org and month across every process (usage_alerts) and hands it to the email hook.
 */
export class Quotas {
  readonly #deps: QuotasDeps;
  /** `<month>\0<org>` → the highest share already alerted by this process (the database decides across processes). */
  readonly #alerted = new Map<string, number>();

  constructor(deps: QuotasDeps) {
    this.#deps = deps;
  }

  /** Undefined when `orgId` may call; else why not and until when. Memory only: runs on every tool call. */
  check(orgId: string, plan: Plan): QuotaRefusal | undefined {
    const limit = plan.monthlyCalls;
    if (limit === null) return undefined;
    const used = this.#deps.usage.billable(orgId);
    if (used * 100 >= limit * ALERT_PERCENTS[0]) this.#alert(orgId, plan, used, limit);
    if (used < limit) return undefined;
    const month = this.#deps.usage.month();
    const resetsAt = new Date(month.end).toISOString();
    const fmt = new Intl.NumberFormat('en');
    return {
      retryAfterSeconds: Math.max(1, Math.ceil((month.end - this.#deps.usage.now()) / 1000)),
      message: `the ${plan.name} plan's ${fmt.format(limit)} tool calls this month are used up: calls work again at ${resetsAt}, or at once on a larger plan (${UPGRADE_PATH})`,
      data: { code: 'quota_exceeded', plan: plan.id, limit, used, resetsAt, upgrade: UPGRADE_PATH },
    };
  }

  #alert(orgId: string, plan: Plan, used: number, limit: number): void {
    const month = this.#deps.usage.month().key;
    const key = `${month}\u0000${orgId}`;
    const done = this.#alerted.get(key) ?? 0;
    const due = ALERT_PERCENTS.filter((p) => p > done && used * 100 >= limit * p);
    if (due.length === 0) return;
    const percent = due.at(-1) as QuotaAlert['percent'];
    this.#alerted.set(key, percent);
    void this.#record({ orgId, month, percent, plan: plan.id, used, limit });
  }

  /** Records the alert once per org, month and share (whichever process gets there first) and sends its email. */
  async #record(alert: QuotaAlert): Promise<void> {
    const { db, log, mail } = this.#deps;
    try {
      const inserted = await db.$executeRawUnsafe(
        `INSERT INTO usage_alerts (org_id, month, percent, used, quota) VALUES ($1::uuid, $2::date, $3, $4, $5)
         ON CONFLICT DO NOTHING`,
        alert.orgId,
        alert.month,
        alert.percent,
        alert.used,
        alert.limit,
      );
      if (inserted === 0) return;
      log.info('usage alert', { ...alert });
      if (mail) await mail(alert);
      else
        log.info('usage alert email not sent: no mail is configured', { orgId: alert.orgId, percent: alert.percent });
    } catch (err) {
      log.warn('usage alert could not be recorded', { orgId: alert.orgId, percent: alert.percent, err });
    }
  }
}
