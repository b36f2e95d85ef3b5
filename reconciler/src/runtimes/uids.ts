import type { PrismaClient } from '@bmms/prisma';
import { ReconcilerError } from '../errors.ts';

/** The host uids instances may run as, inclusive: none of them may belong to anything else on the host. */
export type UidRange = { first: number; last: number };

/** Default range: far above system and login users (and above the usual /etc/subuid ranges). */
export const DEFAULT_UID_RANGE: UidRange = { first: 200_000, last: 299_999 };

/** Parses `first-last` (e.g. `200000-299999`); throws on anything else. */
export function parseUidRange(text: string): UidRange {
  const m = /^(\d+)-(\d+)$/.exec(text.trim());
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m || first < 1000 || last < first || last > 0xfffffffe) {
    throw new Error(`uid range "${text}" must be "first-last" with 1000 <= first <= last`);
  }
  return { first, last };
}

/** Every uid of the range is taken. */
export class UidRangeExhaustedError extends ReconcilerError {
  constructor(range: UidRange) {
    super(
      'uid_range_exhausted',
      `Every instance uid in ${range.first}-${range.last} is taken: widen BMMS_INSTANCE_UID_RANGE.`,
      { ...range },
    );
  }
}

/**
 * Which host uid the instances of one key (a server, or a server's previews) run as. The same key always gets the
 * same uid; two keys never share one.
 */
export interface UidPool {
  /** The range uids come from. */
  readonly range: UidRange;
  /** The uid recorded for `key`, recording the lowest free one first when there is none. */
  uidFor(key: string): Promise<number>;
}

/** The uid key of an instance: a server's previews run unchecked code, so never with its production uid. */
export function uidKey(serverName: string, kind: 'production' | 'preview' | undefined): string {
  return kind === 'preview' ? `${serverName}#preview` : serverName;
}

function lowestFree(taken: Iterable<number>, range: UidRange): number {
  const used = new Set(taken);
  for (let uid = range.first; uid <= range.last; uid++) if (!used.has(uid)) return uid;
  throw new UidRangeExhaustedError(range);
}

/** Uids held for the life of this process only (tests, benchmarks, a runtime without a database). */
export class MemoryUidPool implements UidPool {
  readonly range: UidRange;
  readonly #uids = new Map<string, number>();

  constructor(range: UidRange = DEFAULT_UID_RANGE) {
    this.range = range;
  }

  async uidFor(key: string): Promise<number> {
    let uid = this.#uids.get(key);
    if (uid === undefined) {
      uid = lowestFree(this.#uids.values(), this.range);
      this.#uids.set(key, uid);
    }
    return uid;
  }
}

/** Uids recorded in the `instance_uids` table: a restarted platform, or another leader, reuses them. */
export class PrismaUidPool implements UidPool {
  readonly range: UidRange;
  readonly #db: PrismaClient;
  readonly #cache = new Map<string, number>();

  constructor(db: PrismaClient, range: UidRange = DEFAULT_UID_RANGE) {
    this.#db = db;
    this.range = range;
  }

  async uidFor(key: string): Promise<number> {
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const { first, last } = this.range;
    for (let attempt = 0; ; attempt++) {
      const found = await this.#db.instanceUid.findUnique({ where: { key } });
      if (found && found.uid >= first && found.uid <= last) {
        this.#cache.set(key, found.uid);
        return found.uid;
      }
      const taken = await this.#db.instanceUid.findMany({
        where: { uid: { gte: first, lte: last } },
        select: { uid: true },
      });
      const uid = lowestFree(
        taken.map((t) => t.uid),
        this.range,
      );
      try {
        // A record outside the range (the range was changed) is moved into it.
        await this.#db.instanceUid.upsert({ where: { key }, create: { key, uid }, update: { uid } });
      } catch (err) {
        // Another leader took that uid (or recorded this key) at the same moment: look again.
        if (attempt < 5) continue;
        throw err;
      }
    }
  }
}
