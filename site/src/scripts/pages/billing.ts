/** /settings#billing: the org's plan, and whether this platform takes payments. */
import { api } from '../lib/api.ts';
import { byId, errorBox, h, mount, skeleton } from '../lib/dom.ts';

interface BillingView {
  configured: boolean;
  message: string;
  plan: { id: string; name: string };
}

async function billing(): Promise<void> {
  const panel = byId('billing-panel');
  mount(panel, skeleton(2));
  try {
    const b = await api<BillingView>('GET', '/billing');
    mount(
      panel,
      h(
        'div',
        { class: 'card stack', id: 'billing-card' },
        h('p', {}, 'Plan: ', h('strong', {}, b.plan.name), ' · ', h('a', { href: '/pricing/' }, 'compare plans')),
        h('p', { class: b.configured ? '' : 'muted' }, b.message),
      ),
    );
  } catch (err) {
    mount(panel, errorBox((err as Error).message));
  }
}

void billing();
