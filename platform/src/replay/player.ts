import { randomUUID } from 'node:crypto';
import type { PreviewProvision, PreviewSetup } from '@bmms/reconciler';
import type { Manifest } from '@bmms/runner-template';
import type { EgressProxy, RecordedAnswer } from '../egress/proxy.ts';
import { sanitizeUrl } from './sanitize.ts';
import type { RecordedExchange } from './types.ts';

/** What a preview's replaying listener serves right now: one recorded call's upstream answers. */
interface Stage {
  exchanges: RecordedExchange[];
  used: Set<number>;
  secrets: readonly string[];
}

/**
 * The egress of previews: each preview instance whose manifest allows egress gets its own listener on the egress
 * proxy that never goes out; it answers with the upstream responses recorded for the call the `replay` check is
 * replaying (`serving`), and with 502 to anything else, so a preview never reaches a real upstream.
 */
export class ReplayPlayer {
  readonly #proxy: Pick<EgressProxy, 'access' | 'close'>;
  /** The stage of each listener, by `<server>\0<tree>` (changes with the same tree may each have a preview). */
  readonly #stages = new Map<string, Set<{ stage: Stage | undefined }>>();

  constructor(proxy: Pick<EgressProxy, 'access' | 'close'>) {
    this.#proxy = proxy;
  }

  /** The reconciler's preview hook: a replaying egress listener for a preview of `tree`. */
  readonly provision: PreviewProvision = async (
    serverName: string,
    manifest: Manifest,
    tree: string,
  ): Promise<PreviewSetup> => {
    if (manifest.egress.length === 0) return { env: {}, release: async () => {} };
    const key = `replay-${randomUUID()}`;
    const slot: { stage: Stage | undefined } = { stage: undefined };
    const where = `${serverName}\0${tree}`;
    const slots = this.#stages.get(where) ?? new Set();
    slots.add(slot);
    this.#stages.set(where, slots);
    const access = await this.#proxy.access(key, {
      allow: manifest.egress,
      server: `${serverName} (preview)`,
      replay: (method, url) => (slot.stage ? answer(slot.stage, method, url) : undefined),
    });
    return {
      env: access.env,
      ...(access.binds.length > 0 ? { binds: access.binds } : {}),
      release: async () => {
        slots.delete(slot);
        if (slots.size === 0) this.#stages.delete(where);
        await this.#proxy.close(key);
      },
    };
  };

  /** Runs `call` while the previews of `tree` answer upstream requests with `exchanges` (matched by method and URL). */
  async serving<T>(
    serverName: string,
    tree: string,
    exchanges: RecordedExchange[],
    secrets: readonly string[],
    call: () => Promise<T>,
  ): Promise<T> {
    const slots = [...(this.#stages.get(`${serverName}\0${tree}`) ?? [])];
    for (const slot of slots) slot.stage = { exchanges, used: new Set(), secrets };
    try {
      return await call();
    } finally {
      for (const slot of slots) slot.stage = undefined;
    }
  }
}

/** The next unused recorded answer to `method url` (the last one again once all were used). */
function answer(stage: Stage, method: string, url: string): RecordedAnswer | undefined {
  const wanted = sanitizeUrl(url, stage.secrets);
  const matching = stage.exchanges.map((e, i) => ({ e, i })).filter(({ e }) => e.method === method && e.url === wanted);
  const next = matching.find(({ i }) => !stage.used.has(i)) ?? matching.at(-1);
  if (!next) return undefined;
  stage.used.add(next.i);
  return { status: next.e.status, headers: next.e.headers, body: next.e.body };
}
