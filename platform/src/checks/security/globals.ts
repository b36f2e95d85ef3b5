import ts from 'typescript-api';
import type { Analysis } from './analysis.ts';
import type { SecurityRule } from './rules.ts';
import { GLOBAL_FUNCTIONS, GLOBAL_OBJECTS } from './scopes.ts';
import { climbWrappers, describe, isAssignment, isComparisonOperand, memberName, own, unwrap } from './syntax.ts';
import { constValue } from './values.ts';

/** Globals with a rule of their own (a sharper message than `global-not-allowlisted`). */
const BANNED_GLOBALS: Readonly<Record<string, SecurityRule>> = {
  eval: 'no-eval',
  Function: 'no-function-constructor',
  require: 'no-require',
  module: 'no-require',
  exports: 'no-require',
  process: 'no-process',
  globalThis: 'no-global-object',
  global: 'no-global-object',
  self: 'no-global-object',
  window: 'no-global-object',
  frames: 'no-global-object',
  fetch: 'no-global-fetch',
  XMLHttpRequest: 'no-global-fetch',
  WebSocket: 'no-global-fetch',
  EventSource: 'no-global-fetch',
  navigator: 'no-global-fetch',
  WebAssembly: 'no-webassembly',
  Reflect: 'no-reflect-proxy',
  Proxy: 'no-reflect-proxy',
  Atomics: 'no-shared-memory',
  SharedArrayBuffer: 'no-shared-memory',
  Buffer: 'no-buffer',
};

/** Calls whose first argument is mutated. */
const MUTATORS = new Set(['defineProperty', 'defineProperties', 'assign', 'setPrototypeOf', '__defineGetter__']);

/** Array methods that take a callback: `.map(String)`, `.filter(Boolean)`. */
const CALLBACK_METHODS = new Set([
  'map',
  'filter',
  'flatMap',
  'find',
  'findIndex',
  'findLast',
  'some',
  'every',
  'forEach',
  'then',
  'catch',
  'sort',
  'reduce',
]);

/** A read of a global that no declaration shadows: allowlisted built-ins used plainly, nothing else. */
export function checkGlobal(a: Analysis, id: ts.Identifier): void {
  const name = id.text;
  const p = id.parent;
  if (GLOBAL_FUNCTIONS.has(name)) {
    if ((name === 'setTimeout' || name === 'setInterval') && ts.isCallExpression(p) && p.expression === id) {
      const first = p.arguments[0];
      if (first && (ts.isStringLiteralLike(first) || ts.isTemplateExpression(first) || ts.isBinaryExpression(first))) {
        a.report(id, 'no-eval', `passes a string of code to ${name}`);
      }
    }
    return;
  }
  if (GLOBAL_OBJECTS.has(name)) {
    // Look through casts: `(Math as Record<string, unknown>)[k]` is still Math.
    const o = climbWrappers(id);
    const q = o.parent;
    if (ts.isPropertyAccessExpression(q) && q.expression === o) return;
    if (ts.isElementAccessExpression(q) && q.expression === o) {
      if (constValue(a, q.argumentExpression) === undefined)
        a.report(id, 'no-computed-global-access', `indexes ${name} with a computed key`);
      return;
    }
    if ((ts.isCallExpression(q) || ts.isNewExpression(q)) && q.expression === o) return;
    if (ts.isCallExpression(q)) {
      const callee = unwrap(q.expression);
      const method = ts.isPropertyAccessExpression(callee)
        ? callee.name.text
        : ts.isIdentifier(callee)
          ? callee.text
          : '';
      if (MUTATORS.has(method) && q.arguments[0] === o)
        a.report(id, 'no-builtin-mutation', `passes ${name} to ${method}`);
      else if (!CALLBACK_METHODS.has(method)) a.report(id, 'no-builtin-alias', `passes ${name} as a value`);
      return;
    }
    if (ts.isBinaryExpression(q)) {
      const op = q.operatorToken.kind;
      if (op === ts.SyntaxKind.InstanceOfKeyword && q.right === o) return;
      if (isComparisonOperand(o)) return;
      if (isAssignment(op) && q.left === o) return; // reported as a mutation
    }
    if (ts.isTypeOfExpression(q) || ts.isExpressionWithTypeArguments(q)) return;
    a.report(id, 'no-builtin-alias', `stores ${name} under another name`);
    return;
  }
  if (name === 'process') {
    const outer = climbWrappers(id);
    const member = memberName(outer.parent, outer);
    if (member === 'env') {
      const key = memberName(outer.parent.parent, outer.parent);
      a.report(id, 'no-process-env', `reads process.env${key ? `.${key}` : ''}`);
    } else if (member === 'binding' || member === 'dlopen' || member === '_linkedBinding') {
      a.report(id, 'no-process-binding', `calls process.${member}`);
    } else a.report(id, 'no-process', member ? `uses process.${member}` : 'uses process');
    return;
  }
  const rule = own(BANNED_GLOBALS, name);
  if (rule === 'no-function-constructor') a.report(id, rule, 'uses the Function constructor');
  else if (rule === 'no-global-fetch' && name === 'fetch') a.report(id, rule, 'calls the global fetch');
  else if (rule) a.report(id, rule, `uses ${name}`);
  else a.report(id, 'global-not-allowlisted', `uses the global "${name}"`);
}

/** An assignment, `delete` or `++` of `target`: nothing reached from a built-in may change. */
export function checkMutationTarget(a: Analysis, target: ts.Expression, how: string): void {
  target = unwrap(target);
  if (ts.isArrayLiteralExpression(target)) {
    for (const el of target.elements) checkMutationTarget(a, ts.isSpreadElement(el) ? el.expression : el, how);
    return;
  }
  if (ts.isObjectLiteralExpression(target)) {
    for (const prop of target.properties) {
      if (ts.isPropertyAssignment(prop)) checkMutationTarget(a, prop.initializer, how);
      else if (ts.isShorthandPropertyAssignment(prop)) checkMutationTarget(a, prop.name, how);
      else if (ts.isSpreadAssignment(prop)) checkMutationTarget(a, prop.expression, how);
    }
    return;
  }
  if (ts.isBinaryExpression(target) && target.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
    checkMutationTarget(a, target.left, how);
    return;
  }
  let root: ts.Expression = target;
  while (ts.isPropertyAccessExpression(root) || ts.isElementAccessExpression(root)) root = unwrap(root.expression);
  if (a.isBuiltin(root)) a.report(target, 'no-builtin-mutation', `${how} ${describe(target)}`);
}
