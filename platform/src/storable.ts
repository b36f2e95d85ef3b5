// Postgres stores no U+0000 (neither in text nor in jsonb) and no unpaired UTF-16 surrogate in jsonb (where the audit
// log keeps its details): a request that carried one failed at the database as a 500, sometimes after part of its
// work was written. The API and the sign-in routes refuse such strings at the edge (http/middleware.ts
// `storableInput`, api/operation.ts `input` for path parameters); text taken from a document as data, which is not
// refused, goes through `storableText` before it is stored.

import { type ApiError, invalidRequest } from './errors.ts';

/** One string of a request the database cannot store: where it is (`body.tools.0.name`) and what is wrong. */
export interface UnstorableString {
  /** The full path, from the part of the request: `body.tools.0.name`, `query.action`, `params.ref`. */
  path: string;
  /** The path below the part: `tools.0.name`, `action`, `ref`. */
  field: string;
  message: string;
}

/** Top-level body fields that carry a document as data (an OpenAPI document): not refused, see `storableText`. */
export const DOCUMENT_FIELDS: ReadonlySet<string> = new Set(['openapi']);

/** The longest path segment (a field name from the request) an error message repeats. */
const MAX_SEGMENT = 100;

/** What is wrong with `text` for the database, or null when it can be stored. */
export function unstorable(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character (\\u0000), which cannot be stored: remove it';
  if (!text.isWellFormed()) {
    return 'contains an unpaired UTF-16 surrogate (\\ud800–\\udfff), which is not valid Unicode: remove it';
  }
  return null;
}

/** `text` made storable: each NUL and each unpaired surrogate becomes U+FFFD. */
export const storableText = (text: string): string => text.replaceAll('\u0000', '\uFFFD').toWellFormed();

interface Node {
  value: unknown;
  /** The field name or array index that leads here (`root` at the top). */
  key: string;
  /** Whether `key` is a field name the request sent (checked as a string of its own). */
  named: boolean;
  up: Node | null;
}

/**
 * The first string of a parsed request part (`value`, named `root`: `body`, `query`, `params`) that the database
 * cannot store, field names included, in document order; null when there is none. It walks arrays and plain objects
 * only (a body left unread is checked where it is parsed), iteratively, so a deeply nested body cannot overflow the
 * stack. `skip` names top-level fields that are data (`DOCUMENT_FIELDS`).
 */
export function firstUnstorable(
  value: unknown,
  root: string,
  skip: ReadonlySet<string> = new Set(),
): UnstorableString | null {
  const stack: Node[] = [{ value, key: root, named: false, up: null }];
  for (let node = stack.pop(); node; node = stack.pop()) {
    const problem = node.named ? unstorable(node.key) : null;
    if (problem) return found(node, `the field name ${problem}`);
    const { value: v } = node;
    if (typeof v === 'string') {
      const message = unstorable(v);
      if (message) return found(node, message);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        // Numbers, booleans and nulls hold no string: a long array of them costs no nodes.
        const item: unknown = v[i];
        if (typeof item === 'string' || (typeof item === 'object' && item !== null)) {
          stack.push({ value: item, key: String(i), named: false, up: node });
        }
      }
    } else if (isPlainObject(v)) {
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        if (node.up === null && skip.has(key)) continue;
        stack.push({ value: v[key], key, named: true, up: node });
      }
    }
  }
  return null;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Where `node` is, named as `input` names fields; a long field name is cut, an unstorable one quoted with escapes. */
function found(node: Node, message: string): UnstorableString {
  const segments: string[] = [];
  for (let n: Node | null = node; n; n = n.up) {
    const key = n.key.length > MAX_SEGMENT ? `${n.key.slice(0, MAX_SEGMENT)}…` : n.key;
    segments.push(unstorable(key) ? JSON.stringify(key) : key);
  }
  const [root, ...below] = segments.reverse();
  return { path: segments.join('.'), field: below.join('.') || (root ?? ''), message };
}

/**
 * `400 invalid_request` for a string the database cannot store, named as `input` names a field at fault: the message
 * and `details.issues` give its path; `details.field` names a body field, `details.parameter` a query or path one.
 */
export function unstorableRequest(at: UnstorableString): ApiError {
  const issues = [{ path: at.path, message: at.message }];
  const named = at.path.split('.', 1)[0] === 'body' ? { field: at.field } : { parameter: at.field };
  return invalidRequest(`${at.path}: ${at.message}`, { ...named, issues });
}
