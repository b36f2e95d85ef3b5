import ts from 'typescript-api';
import type { Binding, FileScopes } from './scopes.ts';
import { climbWrappers, isAssignment, isLogicalAssignment, isUpdate, own, propertyNameText, unwrap } from './syntax.ts';
import { constValue } from './values.ts';

// Where the value of a computed read can go: a read whose value stays data (compared, counted, formatted,
// returned from the handler) or that can only return an own property is no way to reach a prototype.

/** Globals whose call only reads its argument as data. */
const PURE_SINKS = new Set(['String', 'Number', 'Boolean', 'isNaN', 'isFinite', 'parseInt', 'parseFloat']);

/** Members of global namespaces whose call only reads its argument as data. */
const PURE_SINK_MEMBERS: Record<string, ReadonlySet<string>> = {
  JSON: new Set(['stringify']),
  Number: new Set(['isInteger', 'isFinite', 'isNaN', 'isSafeInteger', 'parseInt', 'parseFloat']),
  Array: new Set(['isArray']),
  Math: new Set(Object.getOwnPropertyNames(Math)),
};

/** Member names that, called on a value, call the value itself: `f.call(…)` is `f(…)`. */
const INVOKERS = new Set(['call', 'apply', 'bind']);

/** Keys that make an object's member run when the runtime serialises or awaits the object. */
const HOOK_KEYS = new Set(['then', 'toJSON', 'toString', 'valueOf', 'get', 'set']);

/**
 * Whether a value (the result of a computed read) can only be used as data: compared, counted, formatted,
 * serialised by the runtime, never called, stored where code can reach it again, or written through.
 */
export function isContained(
  s: FileScopes,
  e: ts.Node,
  member: string | undefined,
  seen: Set<Binding>,
  depth = 0,
): boolean {
  if (depth > 24) return false;
  const at = climbWrappers(e);
  const p = at.parent;
  const next = (n: ts.Node, m?: string): boolean => isContained(s, n, m, seen, depth + 1);
  if (ts.isExpressionStatement(p) || ts.isTemplateSpan(p)) {
    return !(ts.isTemplateSpan(p) && ts.isTaggedTemplateExpression(p.parent.parent));
  }
  if (
    ts.isTypeOfExpression(p) ||
    ts.isVoidExpression(p) ||
    ts.isDeleteExpression(p) ||
    ts.isPrefixUnaryExpression(p) ||
    ts.isPostfixUnaryExpression(p)
  ) {
    return !(ts.isDeleteExpression(p) && member !== undefined);
  }
  if ((ts.isIfStatement(p) || ts.isWhileStatement(p) || ts.isDoStatement(p)) && p.expression === at) return true;
  if (ts.isForStatement(p) && p.condition === at) return true;
  if (ts.isSwitchStatement(p) || ts.isCaseClause(p) || ts.isForInStatement(p)) return true;
  if (ts.isConditionalExpression(p)) return p.condition === at || next(p);
  if (ts.isAwaitExpression(p)) return next(p);
  if (ts.isBinaryExpression(p)) {
    const op = p.operatorToken.kind;
    if (p.left === at && isAssignment(op)) {
      if (member !== undefined) return false; // writes through the value: o[k].x = …
      return op === ts.SyntaxKind.EqualsToken || !isLogicalAssignment(op) || next(p);
    }
    if (op === ts.SyntaxKind.EqualsToken || isLogicalAssignment(op)) {
      const target = unwrap(p.left);
      return ts.isIdentifier(target) && variableContained(s, target, seen, depth) && next(p);
    }
    if (op === ts.SyntaxKind.CommaToken) return p.left === at || next(p);
    if (
      op === ts.SyntaxKind.QuestionQuestionToken ||
      op === ts.SyntaxKind.BarBarToken ||
      op === ts.SyntaxKind.AmpersandAmpersandToken
    ) {
      return next(p);
    }
    return true; // arithmetic, comparison, in, instanceof
  }
  if (ts.isPropertyAccessExpression(p) && p.expression === at) return next(p, p.name.text);
  if (ts.isElementAccessExpression(p)) {
    if (p.argumentExpression === at) return true;
    const key = constValue(s, p.argumentExpression);
    return next(p, key ?? '');
  }
  if (ts.isCallExpression(p)) {
    if (p.expression === at) return member !== undefined && !INVOKERS.has(member) && next(p);
    const callee = unwrap(p.expression);
    if (ts.isIdentifier(callee)) return PURE_SINKS.has(callee.text) && s.resolve(callee) === undefined;
    return (
      ts.isPropertyAccessExpression(callee) &&
      ts.isIdentifier(callee.expression) &&
      s.resolve(callee.expression) === undefined &&
      (own(PURE_SINK_MEMBERS, callee.expression.text)?.has(callee.name.text) ?? false)
    );
  }
  if (ts.isVariableDeclaration(p) && p.initializer === at) {
    const statement = p.parent.parent;
    const exported =
      ts.isVariableStatement(statement) &&
      (ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) ?? false);
    return !exported && ts.isIdentifier(p.name) && variableContained(s, p.name, seen, depth);
  }
  if (ts.isPropertyAssignment(p) && p.initializer === at && ts.isObjectLiteralExpression(p.parent)) {
    const key = ts.isComputedPropertyName(p.name) ? undefined : propertyNameText(p.name);
    return key !== undefined && !HOOK_KEYS.has(key) && next(p.parent);
  }
  if (ts.isShorthandPropertyAssignment(p) && ts.isObjectLiteralExpression(p.parent)) {
    return !HOOK_KEYS.has(p.name.text) && next(p.parent);
  }
  if (ts.isArrayLiteralExpression(p) || ts.isSpreadElement(p)) return next(ts.isSpreadElement(p) ? p.parent : p);
  if (ts.isSpreadAssignment(p)) return next(p.parent);
  if (ts.isReturnStatement(p) || (ts.isArrowFunction(p) && p.body === at)) {
    const fn = ts.isArrowFunction(p) ? p : ts.findAncestor(p, ts.isFunctionLike);
    return fn !== undefined && isHandler(s, fn);
  }
  return false;
}

/** Every read of a variable holding a value is contained (a `let` may be read after any assignment). */
function variableContained(s: FileScopes, name: ts.Identifier, seen: Set<Binding>, depth: number): boolean {
  const binding = s.resolve(name);
  if (!binding || binding.exported) return false;
  if (seen.has(binding)) return true;
  seen.add(binding);
  return s.refsOf(name.text, binding).every((ref) => {
    if (ref === name) return true;
    const at = climbWrappers(ref);
    const p = at.parent;
    if (ts.isBinaryExpression(p) && p.left === at && p.operatorToken.kind === ts.SyntaxKind.EqualsToken) return true;
    return isContained(s, ref, undefined, seen, depth + 1);
  });
}

/** Whether `fn` is the `handler` of a `defineTool({...})` call: what it returns, the runtime serialises. */
function isHandler(s: FileScopes, fn: ts.Node): boolean {
  const p = fn.parent;
  const named =
    (ts.isPropertyAssignment(p) && p.initializer === fn && propertyNameText(p.name) === 'handler') ||
    (ts.isMethodDeclaration(fn) && propertyNameText(fn.name) === 'handler');
  const literal = ts.isMethodDeclaration(fn) ? fn.parent : p.parent;
  if (!named || !literal || !ts.isObjectLiteralExpression(literal)) return false;
  const call = climbWrappers(literal).parent;
  if (!ts.isCallExpression(call) || call.arguments[0] !== climbWrappers(literal)) return false;
  const callee = unwrap(call.expression);
  return ts.isIdentifier(callee) && s.resolve(callee)?.imported === '@bmms/runner-template/runtime#defineTool';
}

/**
 * Whether `read` (`o[k]`) sits where `Object.hasOwn(o, k)` holds, so it can only return an own property:
 * the then-branch of a check, the else-branch or the rest of a block after `if (!Object.hasOwn(o, k)) return`,
 * with nothing evaluated in between that could delete the property.
 */
export function isOwnGuarded(s: FileScopes, read: ts.ElementAccessExpression): boolean {
  const object = simpleRef(read.expression);
  const key = simpleRef(read.argumentExpression);
  if (object === undefined || key === undefined) return false;
  const isCheck = (c: ts.Expression): ts.CallExpression | undefined => {
    c = unwrap(c);
    if (!ts.isCallExpression(c) || c.arguments.length !== 2) return undefined;
    const [o, k] = c.arguments as unknown as [ts.Expression, ts.Expression];
    if (simpleRef(o) !== object || simpleRef(k) !== key) return undefined;
    const callee = unwrap(c.expression);
    if (!ts.isPropertyAccessExpression(callee)) return undefined;
    if (callee.name.text === 'hasOwn' && s.isGlobal(callee.expression, new Set(['Object']))) return c;
    // Object.prototype.hasOwnProperty.call(o, k)
    const inner = callee.expression;
    return callee.name.text === 'call' &&
      ts.isPropertyAccessExpression(inner) &&
      inner.name.text === 'hasOwnProperty' &&
      ts.isPropertyAccessExpression(inner.expression) &&
      inner.expression.name.text === 'prototype' &&
      s.isGlobal(inner.expression.expression, new Set(['Object']))
      ? c
      : undefined;
  };
  const holds = (c: ts.Expression): ts.CallExpression | undefined => {
    c = unwrap(c);
    if (ts.isBinaryExpression(c) && c.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken)
      return holds(c.left) ?? holds(c.right);
    return isCheck(c);
  };
  const fails = (c: ts.Expression): ts.CallExpression | undefined => {
    c = unwrap(c);
    if (ts.isBinaryExpression(c) && c.operatorToken.kind === ts.SyntaxKind.BarBarToken)
      return fails(c.left) ?? fails(c.right);
    return ts.isPrefixUnaryExpression(c) && c.operator === ts.SyntaxKind.ExclamationToken
      ? isCheck(c.operand)
      : undefined;
  };
  const clean = (guard: ts.Node | undefined): boolean => guard !== undefined && nothingRunsBetween(guard, read);
  for (let child: ts.Node = read, n = read.parent; n && !ts.isFunctionLike(child); child = n, n = n.parent) {
    if (ts.isConditionalExpression(n)) {
      if (child === n.whenTrue && clean(holds(n.condition))) return true;
      if (child === n.whenFalse && clean(fails(n.condition))) return true;
    } else if (ts.isBinaryExpression(n) && n.right === child) {
      const op = n.operatorToken.kind;
      if (op === ts.SyntaxKind.AmpersandAmpersandToken && clean(holds(n.left))) return true;
      if (op === ts.SyntaxKind.BarBarToken && clean(fails(n.left))) return true;
    } else if (ts.isIfStatement(n)) {
      if (child === n.thenStatement && clean(holds(n.expression))) return true;
      if (child === n.elseStatement && clean(fails(n.expression))) return true;
    } else if (ts.isBlock(n) || ts.isSourceFile(n) || ts.isCaseClause(n)) {
      const statements = n.statements;
      for (let i = statements.indexOf(child as ts.Statement) - 1; i >= 0; i--) {
        const statement = statements[i] as ts.Statement;
        if (ts.isIfStatement(statement) && !statement.elseStatement && alwaysExits(statement.thenStatement)) {
          if (clean(fails(statement.expression))) return true;
        }
      }
    }
  }
  return false;
}

/** An identifier a guard and a read can both name (`o` in `Object.hasOwn(o, k)` and `o[k]`); getters rule out anything longer. */
function simpleRef(e: ts.Expression): string | undefined {
  e = unwrap(e);
  return ts.isIdentifier(e) ? e.text : undefined;
}

/**
 * Whether nothing that can run code (a call, a member read that may hit a getter, an assignment, a delete) is
 * evaluated between a guard and the read it guards, counting a whole loop that holds the read but not the guard.
 */
function nothingRunsBetween(guard: ts.Node, read: ts.Node): boolean {
  const from = guard.getEnd();
  let to = read.getStart();
  for (let n: ts.Node | undefined = read.parent; n && n.pos > from; n = n.parent) {
    if (ts.isIterationStatement(n, false)) to = Math.max(to, n.getEnd());
  }
  let ok = true;
  const walk = (n: ts.Node): void => {
    if (!ok || n.getEnd() <= from || n.pos >= to) return;
    const inside = n.getStart() >= from && n.getEnd() <= to;
    if (inside && n !== read && runsCode(n)) {
      ok = false;
      return;
    }
    ts.forEachChild(n, walk);
  };
  walk(read.getSourceFile());
  return ok;
}

function runsCode(n: ts.Node): boolean {
  return (
    ts.isCallExpression(n) ||
    ts.isNewExpression(n) ||
    ts.isTaggedTemplateExpression(n) ||
    ts.isPropertyAccessExpression(n) ||
    ts.isElementAccessExpression(n) ||
    ts.isDeleteExpression(n) ||
    ts.isAwaitExpression(n) ||
    ts.isYieldExpression(n) ||
    (ts.isBinaryExpression(n) && isAssignment(n.operatorToken.kind)) ||
    ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) && isUpdate(n.operator))
  );
}

function alwaysExits(s: ts.Statement): boolean {
  if (ts.isReturnStatement(s) || ts.isThrowStatement(s) || ts.isContinueStatement(s) || ts.isBreakStatement(s))
    return true;
  const last = ts.isBlock(s) ? s.statements.at(-1) : undefined;
  return last !== undefined && alwaysExits(last);
}
