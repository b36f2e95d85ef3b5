import ts from 'typescript-api';
import type { Binding, FileScopes } from './scopes.ts';
import { climbWrappers, isAssignment, own, unwrap } from './syntax.ts';

// What a member key or a value is known to be without running the code: constant folding of strings and
// arrays, and whether an expression can only be a number.

/** Names a built member key must not spell (or be assembled towards). */
export const DANGEROUS_NAMES = [
  'constructor',
  '__proto__',
  'prototype',
  'eval',
  'Function',
  'require',
  'process',
  'globalThis',
];

const OBFUSCATORS = new Set([
  'fromCharCode',
  'fromCodePoint',
  'atob',
  'unescape',
  'reverse',
  'decodeURIComponent',
  'decodeURI',
]);

/** Whether an expression calls something that hides text: char codes, base64, URI decoding, reversing. */
export function usesObfuscator(e: ts.Node): boolean {
  if (ts.isIdentifier(e)) return OBFUSCATORS.has(e.text);
  return ts.forEachChild(e, usesObfuscator) ?? false;
}

/** The string a key or value always is, when the file alone shows it (literals, const bindings, string methods). */
export function constValue(s: FileScopes, e: ts.Expression, depth = 0): string | undefined {
  if (depth > 8) return undefined;
  e = unwrap(e);
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e) || ts.isNumericLiteral(e)) return e.text;
  if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const l = constValue(s, e.left, depth + 1);
    const r = l === undefined ? undefined : constValue(s, e.right, depth + 1);
    return l === undefined || r === undefined ? undefined : l + r;
  }
  if (ts.isTemplateExpression(e)) {
    let out = e.head.text;
    for (const span of e.templateSpans) {
      const v = constValue(s, span.expression, depth + 1);
      if (v === undefined) return undefined;
      out += v + span.literal.text;
    }
    return out;
  }
  if (ts.isIdentifier(e)) {
    const b = s.resolve(e);
    return b?.isConst && b.init ? constValue(s, b.init, depth + 1) : undefined;
  }
  if (ts.isCallExpression(e)) {
    const args = e.arguments.map((a) => constValue(s, a, depth + 1));
    const callee = unwrap(e.expression);
    if (ts.isIdentifier(callee) && args.length === 1 && args[0] !== undefined && s.resolve(callee) === undefined) {
      try {
        if (callee.text === 'atob') return atob(args[0]);
        if (callee.text === 'decodeURIComponent') return decodeURIComponent(args[0]);
      } catch {
        return undefined;
      }
    }
    if (!ts.isPropertyAccessExpression(callee) || args.some((a) => a === undefined)) return undefined;
    const strs = args as string[];
    const method = callee.name.text;
    if (
      s.isGlobal(callee.expression, new Set(['String'])) &&
      (method === 'fromCharCode' || method === 'fromCodePoint')
    ) {
      const codes = strs.map(Number);
      if (codes.some((c) => !Number.isInteger(c) || c < 0 || c > 0x10ffff)) return undefined;
      return String.fromCodePoint(...codes);
    }
    if (method === 'join') {
      const items = constArray(s, callee.expression, depth + 1);
      return items?.join(strs[0] ?? ',');
    }
    const base = constValue(s, callee.expression, depth + 1);
    if (base === undefined) return undefined;
    switch (method) {
      case 'toLowerCase':
        return base.toLowerCase();
      case 'toUpperCase':
        return base.toUpperCase();
      case 'trim':
        return base.trim();
      case 'concat':
        return base.concat(...strs);
      case 'slice':
        return base.slice(...strs.map(Number));
      case 'substring':
        return base.substring(Number(strs[0]), strs[1] === undefined ? undefined : Number(strs[1]));
      case 'replace':
        return strs.length === 2 ? base.replace(strs[0] as string, strs[1] as string) : undefined;
      case 'replaceAll':
        return strs.length === 2 ? base.replaceAll(strs[0] as string, strs[1] as string) : undefined;
      case 'repeat':
        return Number(strs[0]) <= 16 ? base.repeat(Number(strs[0])) : undefined;
    }
  }
  return undefined;
}

/** The strings an array expression always holds (`[…]`, `.split()`, `.reverse()`, a const binding of one). */
function constArray(s: FileScopes, e: ts.Expression, depth: number): string[] | undefined {
  e = unwrap(e);
  if (ts.isArrayLiteralExpression(e)) {
    const items = e.elements.map((x) => constValue(s, x, depth + 1));
    return items.some((x) => x === undefined) ? undefined : (items as string[]);
  }
  if (ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression)) {
    const method = e.expression.name.text;
    if (method === 'reverse' && e.arguments.length === 0)
      return constArray(s, e.expression.expression, depth + 1)?.reverse();
    if (method === 'split' && e.arguments.length === 1) {
      const base = constValue(s, e.expression.expression, depth + 1);
      const sep = constValue(s, e.arguments[0] as ts.Expression, depth + 1);
      return base === undefined || sep === undefined ? undefined : base.split(sep);
    }
  }
  if (ts.isIdentifier(e)) {
    const b = s.resolve(e);
    return b?.isConst && b.init ? constArray(s, b.init, depth + 1) : undefined;
  }
  return undefined;
}

/** True when a key is assembled in a way that hides a name: char codes, base64, reversing, or pieces of a dangerous name. */
export function isBuiltKey(s: FileScopes, key: ts.Expression): boolean {
  if (usesObfuscator(key)) return true;
  const pieces = fragments(s, key);
  return pieces.some(({ text: f, at }) => {
    if (f.length < 3) return false;
    return DANGEROUS_NAMES.some((name) =>
      at === 'start' ? name.startsWith(f) : at === 'end' ? name.endsWith(f) : name.includes(f),
    );
  });
}

/** The known pieces of a key built by `+` or a template, and where in the key each stands. */
function fragments(s: FileScopes, e: ts.Expression): { text: string; at: 'start' | 'end' | 'middle' }[] {
  const parts: (string | null)[] = [];
  const flatten = (x: ts.Expression): void => {
    x = unwrap(x);
    const v = constValue(s, x);
    if (v !== undefined) parts.push(v);
    else if (ts.isBinaryExpression(x) && x.operatorToken.kind === ts.SyntaxKind.PlusToken) {
      flatten(x.left);
      flatten(x.right);
    } else if (ts.isTemplateExpression(x)) {
      parts.push(x.head.text);
      for (const span of x.templateSpans) {
        flatten(span.expression);
        parts.push(span.literal.text);
      }
    } else parts.push(null);
  };
  flatten(e);
  return parts.flatMap((p, i) =>
    p === null || p === '' ? [] : [{ text: p, at: i === 0 ? 'start' : i === parts.length - 1 ? 'end' : 'middle' }],
  ) as { text: string; at: 'start' | 'end' | 'middle' }[];
}

/** Whether an expression can only give a number, bigint or boolean (no string that spells a name). */
export function isNumericish(s: FileScopes, e: ts.Expression, depth = 0): boolean {
  e = unwrap(e);
  if (depth > 6) return false;
  if (ts.isNumericLiteral(e) || ts.isBigIntLiteral(e)) return true;
  // +x, -x, ~x, !x, x++ and --x always give a number, bigint or boolean, whatever x is.
  if (ts.isPrefixUnaryExpression(e) || ts.isPostfixUnaryExpression(e)) return true;
  if (ts.isBinaryExpression(e)) {
    const op = e.operatorToken.kind;
    // A number glued to a string gives digits, and no dangerous name has one.
    if (op === ts.SyntaxKind.PlusToken)
      return isNumericish(s, e.left, depth + 1) || isNumericish(s, e.right, depth + 1);
    if (op === ts.SyntaxKind.CommaToken) return isNumericish(s, e.right, depth + 1);
    if (
      op === ts.SyntaxKind.QuestionQuestionToken ||
      op === ts.SyntaxKind.BarBarToken ||
      op === ts.SyntaxKind.AmpersandAmpersandToken
    ) {
      return isNumericish(s, e.left, depth + 1) && isNumericish(s, e.right, depth + 1);
    }
    return !isAssignment(op);
  }
  if (ts.isConditionalExpression(e))
    return isNumericish(s, e.whenTrue, depth + 1) && isNumericish(s, e.whenFalse, depth + 1);
  // Not `.length`: an object of the code's own (or parsed JSON) can hold a string there.
  if (ts.isCallExpression(e)) {
    const c = unwrap(e.expression);
    return (
      (ts.isPropertyAccessExpression(c) && s.isGlobal(c.expression, new Set(['Math', 'Number']))) ||
      s.isGlobal(c, new Set(['Number', 'parseInt', 'parseFloat']))
    );
  }
  if (ts.isIdentifier(e)) {
    const b = s.resolve(e);
    if (b && !b.isConst && isIndexParameter(s, e.text, b)) return s.writesOf(e.text, b).length === 0;
    if (b?.init === undefined || !isNumericish(s, b.init, depth + 1)) return false;
    // A `let` stays numeric only while every assignment to it is numeric too.
    return (
      b.isConst || s.writesOf(e.text, b).every((w) => w === null || (w !== false && isNumericish(s, w, depth + 1)))
    );
  }
  return false;
}

/** Index parameters already decided, per binding (bindings are per analysis: nothing outlives it). */
const indexParams = new WeakMap<Binding, boolean>();

/** The index parameter of an array callback written in place: `xs.map((x, i) => …)`, `xs.reduce((a, x, i) => …)`. */
function isIndexParameter(s: FileScopes, name: string, binding: Binding): boolean {
  const decl = indexParams.get(binding);
  if (decl !== undefined) return decl;
  let found = false;
  for (const ref of s.refsOf(name, binding).slice(0, 1)) {
    const fn = ts.findAncestor(ref, (n) => ts.isFunctionLike(n) && s.bindingIn(n, name) === binding);
    if (!fn || !(ts.isArrowFunction(fn) || ts.isFunctionExpression(fn))) break;
    const call = climbWrappers(fn).parent;
    if (!ts.isCallExpression(call) || call.arguments[0] !== climbWrappers(fn)) break;
    const callee = unwrap(call.expression);
    if (!ts.isPropertyAccessExpression(callee)) break;
    const at = own(INDEX_POSITION, callee.name.text);
    const param = fn.parameters[at ?? -1];
    // A receiver that is an object literal of the file could pass anything as the "index".
    const receiver = unwrap(callee.expression);
    // The receiver must visibly be an array: an object of the code's own (or a parameter) could pass any "index".
    const r = ts.isIdentifier(receiver) ? s.resolve(receiver) : undefined;
    const array = isArrayish(receiver) || (r !== undefined && (isArrayish(r.init) || r.arrayElement === true));
    found = param !== undefined && ts.isIdentifier(param.name) && param.name.text === name && array;
  }
  indexParams.set(binding, found);
  return found;
}

/** Where the element index sits among an array callback's parameters. */
const INDEX_POSITION: Readonly<Record<string, number>> = {
  map: 1,
  forEach: 1,
  filter: 1,
  flatMap: 1,
  some: 1,
  every: 1,
  find: 1,
  findIndex: 1,
  findLast: 1,
  findLastIndex: 1,
  reduce: 2,
  reduceRight: 2,
};

/** Whether an initializer visibly builds an array (not an object of the code's own with a `map` method). */
function isArrayish(init: ts.Expression | undefined): boolean {
  if (!init) return false;
  const e = unwrap(init);
  if (ts.isArrayLiteralExpression(e)) return true;
  if (!ts.isCallExpression(e)) return false;
  const callee = unwrap(e.expression);
  if (!ts.isPropertyAccessExpression(callee)) return false;
  const base = unwrap(callee.expression);
  // Array.from(…), Object.keys(…): built-ins, which the rules keep from being replaced.
  if (ts.isIdentifier(base) && (base.text === 'Array' || base.text === 'Object'))
    return ['from', 'of', 'keys', 'values', 'entries'].includes(callee.name.text);
  return ARRAY_METHODS.has(callee.name.text) && (ts.isStringLiteralLike(base) || isArrayish(base));
}

/** Methods that return a new array when called on an array (or, for split, on a string). */
const ARRAY_METHODS = new Set([
  'map',
  'filter',
  'slice',
  'concat',
  'flat',
  'flatMap',
  'toSorted',
  'toReversed',
  'split',
]);
