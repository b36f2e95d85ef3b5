import { openapiUnknownOperations } from '../../errors.ts';
import type { ApiDocument } from './document.ts';

import { isObj, METHODS, type Method } from './repair.ts';

export { isObj, METHODS, type Method };

type Obj = Record<string, unknown>;

/** One operation of a document: where it lives and what it says about itself. */
export interface Operation {
  /** The operationId, or `METHOD /path` when the document gives none. */
  id: string;
  method: Method;
  path: string;
  summary: string;
  tags: string[];
  /** The operation object (dereferenced). */
  op: Obj;
  /** Parameters declared on the path item, merged under the operation's own. */
  pathParameters: unknown[];
}

/** Every operation of a document, in document order. */
export function listOperations(doc: ApiDocument): Operation[] {
  const out: Operation[] = [];
  const paths = isObj(doc.paths) ? doc.paths : {};
  for (const [path, item] of Object.entries(paths)) {
    if (!isObj(item)) continue;
    for (const method of METHODS) {
      const op = item[method];
      if (!isObj(op)) continue;
      const opId = typeof op.operationId === 'string' && op.operationId.trim() !== '' ? op.operationId : undefined;
      out.push({
        id: opId ?? `${method.toUpperCase()} ${path}`,
        method,
        path,
        summary: typeof op.summary === 'string' ? op.summary : '',
        tags: Array.isArray(op.tags) ? op.tags.filter((t): t is string => typeof t === 'string') : [],
        op,
        pathParameters: Array.isArray(item.parameters) ? item.parameters : [],
      });
    }
  }
  return out;
}

/** Picks operations by operationId or `METHOD /path` (method case-insensitive), in the order asked; throws naming the unknown ones. */
export function selectOperations(all: Operation[], wanted: readonly string[]): Operation[] {
  const byKey = new Map<string, Operation>();
  for (const o of all) {
    byKey.set(o.id, o);
    byKey.set(`${o.method.toUpperCase()} ${o.path}`, o);
  }
  const picked: Operation[] = [];
  const unknown: string[] = [];
  for (const w of wanted) {
    const m = /^([a-zA-Z]+)\s+(\/.*)$/.exec(w.trim());
    const found = byKey.get(w.trim()) ?? (m ? byKey.get(`${m[1]?.toUpperCase()} ${m[2]}`) : undefined);
    if (!found) unknown.push(w);
    else if (!picked.includes(found)) picked.push(found);
  }
  if (unknown.length > 0) throw openapiUnknownOperations(unknown);
  return picked;
}

/** The listing a client shows for the selection step. */
export function operationListing(ops: Operation[]) {
  return ops.map((o) => ({ id: o.id, method: o.method.toUpperCase(), path: o.path, summary: o.summary, tags: o.tags }));
}
