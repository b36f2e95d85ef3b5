/** A Kubernetes-style status condition (Ready, Progressing, Degraded, Stalled). */
export interface Condition {
  type: ConditionType;
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export type ConditionType = 'Ready' | 'Progressing' | 'Degraded' | 'Stalled';

export type ConditionPatch = Partial<Record<ConditionType, { status: boolean; reason: string; message: string }>>;

const ORDER: ConditionType[] = ['Ready', 'Progressing', 'Degraded', 'Stalled'];

/** Reads conditions stored as JSON, dropping anything malformed. */
export function readConditions(value: unknown): Condition[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (c): c is Condition =>
      typeof c === 'object' &&
      c !== null &&
      ORDER.includes((c as Condition).type) &&
      typeof (c as Condition).status === 'string',
  );
}

/** Applies `patch`; lastTransitionTime moves only when a condition's status flips. */
export function applyConditions(current: Condition[], patch: ConditionPatch, now = new Date()): Condition[] {
  const byType = new Map(current.map((c) => [c.type, c]));
  for (const type of ORDER) {
    const p = patch[type];
    if (!p) continue;
    const status = p.status ? 'True' : 'False';
    const prev = byType.get(type);
    byType.set(type, {
      type,
      status,
      reason: p.reason,
      message: p.message,
      lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : now.toISOString(),
    });
  }
  return ORDER.flatMap((t) => {
    const c = byType.get(t);
    return c ? [c] : [];
  });
}
