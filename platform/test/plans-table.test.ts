import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PLAN_IDS, PLANS, pricingTable } from '../src/plans.ts';

// The one table of plans (src/plans.ts) against what must agree with it: the pricing page's data and the docs.
const SITE = path.resolve(import.meta.dirname, '../../site');
const compact = new Intl.NumberFormat('en');
const orNone = (n: number | null, none: string) => (n === null ? none : compact.format(n));

/** The rows of the docs' plan table, as `plan → cells`. */
function documentedPlans(): Map<string, string[]> {
  const page = readFileSync(path.join(SITE, 'src/content/docs/plans.md'), 'utf8');
  const rows = new Map<string, string[]>();
  for (const m of page.matchAll(/^\| \*\*([^*]+)\*\* +\|(.*)\|$/gm)) {
    rows.set(
      m[1] as string,
      (m[2] as string).split('|').map((c) => c.trim()),
    );
  }
  return rows;
}

describe('the plan table', () => {
  it('is what the pricing page shows (site/src/data/plans.json)', () => {
    const data = JSON.parse(readFileSync(path.join(SITE, 'src/data/plans.json'), 'utf8'));
    expect(data, 'regenerate site/src/data/plans.json from pricingTable() in platform/src/plans.ts').toEqual(
      pricingTable(),
    );
  });

  it('is what the docs say, plan by plan', () => {
    const documented = documentedPlans();
    expect([...documented.keys()]).toEqual(PLAN_IDS.map((id) => PLANS[id].name));
    for (const id of PLAN_IDS) {
      const p = PLANS[id];
      expect(documented.get(p.name), p.name).toEqual([
        p.price === null ? '–' : `${p.price.from ? 'from ' : ''}€${p.price.eurPerMonth}`,
        orNone(p.servers, id === 'enterprise' ? 'per org' : 'no limit'),
        orNone(p.monthlyCalls, id === 'enterprise' ? 'per org' : 'no limit'),
        String(p.maxTools),
        `${p.limits.cpu} / ${p.limits.memoryMb} / ${p.limits.timeoutMs}`,
        `${compact.format(p.descriptionTokens.perTool)} / ${compact.format(p.descriptionTokens.total)}`,
      ]);
    }
  });
});
