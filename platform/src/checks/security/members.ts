import ts from 'typescript-api';
import type { Analysis } from './analysis.ts';
import { isContained, isOwnGuarded } from './containment.ts';
import { type FileScopes, GLOBAL_OBJECTS } from './scopes.ts';
import {
  climbWrappers,
  describe,
  isAssignment,
  isComparisonOperand,
  isDestructuringTarget,
  propertyNameText,
  unwrap,
} from './syntax.ts';
import { constValue, DANGEROUS_NAMES, isBuiltKey, isNumericish, usesObfuscator } from './values.ts';

/** Member names that reach prototypes or code constructors, whatever object they are read from. */
const PROTO_NAMES = new Set([
  '__proto__',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);

/** A member read by name (`o.name`, or `o[k]` whose key folds to a constant): constructors and prototypes are off limits. */
export function checkMemberName(
  a: Analysis,
  node: ts.PropertyAccessExpression | ts.ElementAccessExpression,
  name: string,
): void {
  const object = unwrap(node.expression);
  if (name === 'constructor') {
    const p = node.parent;
    const readsName = ts.isPropertyAccessExpression(p) && p.expression === node && p.name.text === 'name';
    if (!readsName && !isComparisonOperand(node)) a.report(node, 'no-constructor-access', 'reads .constructor');
  } else if (PROTO_NAMES.has(name)) {
    a.report(node, 'no-proto', `uses ${name}`);
  } else if (name === 'prototype') {
    const p = node.parent;
    const borrowsMethod =
      GLOBAL_OBJECTS.has(ts.isIdentifier(object) ? object.text : '') &&
      a.isBuiltin(object) &&
      ts.isPropertyAccessExpression(p) &&
      !PROTO_NAMES.has(p.name.text) &&
      p.name.text !== 'constructor' &&
      ts.isPropertyAccessExpression(p.parent) &&
      (p.parent.name.text === 'call' || p.parent.name.text === 'apply') &&
      ts.isCallExpression(p.parent.parent) &&
      p.parent.parent.expression === p.parent;
    const compares = a.isBuiltin(object) && isComparisonOperand(node);
    if (!borrowsMethod && !compares) a.report(node, 'no-prototype-access', `reads ${describe(node)}`);
  } else if (name === 'setPrototypeOf') {
    a.report(node, 'no-prototype-access', 'calls setPrototypeOf');
  } else if (name === 'getPrototypeOf') {
    const call = node.parent;
    if (!(ts.isCallExpression(call) && call.expression === node && isComparisonOperand(call))) {
      a.report(node, 'no-prototype-access', 'calls getPrototypeOf');
    }
  }
}

/** `o[k]`: a key that folds to a name is checked as that name; a key assembled to hide one, a computed chain and a dynamic read are findings of their own. */
export function checkElementAccess(a: Analysis, node: ts.ElementAccessExpression): void {
  const arg = unwrap(node.argumentExpression);
  const key = constValue(a, arg);
  if (key !== undefined) checkMemberName(a, node, key);
  const literal = ts.isStringLiteralLike(arg) || ts.isNumericLiteral(arg);
  const built =
    !literal && (key === undefined ? isBuiltKey(a, arg) : DANGEROUS_NAMES.includes(key) || usesObfuscator(arg));
  if (built) {
    const what = key === undefined ? 'indexes with an assembled key' : `spells "${key}" from pieces`;
    a.report(node, 'no-built-member-name', what);
  }
  checkComputedChain(a, node);
  if (key === undefined) checkDynamicRead(a, node);
}

/** `o[j][k]` with two computed keys, called or assigned to: the shape of `o[c][p] = f`. */
function checkComputedChain(a: Analysis, node: ts.ElementAccessExpression): void {
  const inner = unwrap(node.expression);
  if (!ts.isElementAccessExpression(inner)) return;
  const keys = [inner.argumentExpression, node.argumentExpression];
  if (keys.some((k) => constValue(a, k) !== undefined || isNumericish(a, k))) return;
  const p = node.parent;
  const called = ts.isCallExpression(p) && p.expression === node;
  const assigned = ts.isBinaryExpression(p) && p.left === node && isAssignment(p.operatorToken.kind);
  if (called || assigned) a.report(node, 'no-computed-chain', `${called ? 'calls' : 'assigns to'} ${describe(node)}`);
}

/** `o[k]` with a key known only at run time: allowed when the value stays data or the read is own-only. */
function checkDynamicRead(a: Analysis, node: ts.ElementAccessExpression): void {
  const arg = unwrap(node.argumentExpression);
  if (isNumericish(a, arg) || isWellKnownSymbol(a, arg)) return;
  if (a.isBuiltin(unwrap(node.expression))) return; // no-computed-global-access names it
  const at = climbWrappers(node);
  const p = at.parent;
  if (ts.isBinaryExpression(p) && p.left === at && p.operatorToken.kind === ts.SyntaxKind.EqualsToken) return;
  if (isDestructuringTarget(at)) return;
  if (isContained(a, node, undefined, new Set()) || isOwnGuarded(a, node)) return;
  a.report(node, 'no-dynamic-read', `reads ${describe(node)} with a key known only at run time and lets the value out`);
}

/** `Symbol.iterator` and the like: a key that names no prototype trick. */
function isWellKnownSymbol(s: FileScopes, e: ts.Expression): boolean {
  return (
    ts.isPropertyAccessExpression(e) && s.isGlobal(e.expression, new Set(['Symbol'])) && !PROTO_NAMES.has(e.name.text)
  );
}

/** A destructuring key (`const { k } = x`) or an object literal key that sets `__proto__`. */
export function checkPatternKey(
  a: Analysis,
  node: ts.BindingElement | ts.PropertyAssignment | ts.ShorthandPropertyAssignment | ts.MethodDeclaration,
): void {
  if (ts.isBindingElement(node)) {
    const name = node.propertyName;
    if (!name) checkDestructuredKey(a, node, ts.isIdentifier(node.name) ? node.name.text : undefined);
    else if (ts.isComputedPropertyName(name)) {
      if (!isWellKnownSymbol(a, unwrap(name.expression))) checkDestructuredKey(a, node, constValue(a, name.expression));
    } else checkDestructuredKey(a, node, propertyNameText(name));
    return;
  }
  const key = ts.isComputedPropertyName(node.name) ? constValue(a, node.name.expression) : propertyNameText(node.name);
  if (ts.isObjectLiteralExpression(node.parent) && isDestructuringTarget(node.parent)) {
    const symbol = ts.isComputedPropertyName(node.name) && isWellKnownSymbol(a, unwrap(node.name.expression));
    if (!symbol) checkDestructuredKey(a, node, key);
  } else if (key !== undefined && PROTO_NAMES.has(key) && ts.isObjectLiteralExpression(node.parent)) {
    a.report(node, 'no-proto', `sets ${key} in an object literal`);
  }
}

/** A destructured key (`const { constructor: F } = x`, `({ constructor }) =>`, `({ a: x } = o)`): as a member read. */
function checkDestructuredKey(a: Analysis, node: ts.Node, key: string | undefined): void {
  if (key === undefined) a.report(node, 'no-dynamic-read', 'destructures with a key known only at run time');
  else if (key === 'constructor') a.report(node, 'no-constructor-access', 'destructures "constructor"');
  else if (PROTO_NAMES.has(key)) a.report(node, 'no-proto', `destructures "${key}"`);
  else if (key === 'prototype' || key === 'getPrototypeOf' || key === 'setPrototypeOf')
    a.report(node, 'no-prototype-access', `destructures "${key}"`);
}
