import ts from 'typescript-api';

// Questions about one syntax node that need nothing but the tree: no scopes, no constant folding.

/** A table entry by a name taken from the checked code: own properties only (a name may be "constructor"). */
export function own<T>(table: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/** The expression inside `(x)`, `x as T`, `x!`, `x satisfies T`, `<T>x`. */
export function unwrap(e: ts.Expression): ts.Expression {
  while (
    ts.isParenthesizedExpression(e) ||
    ts.isAsExpression(e) ||
    ts.isNonNullExpression(e) ||
    ts.isSatisfiesExpression(e) ||
    ts.isTypeAssertionExpression(e)
  ) {
    e = e.expression;
  }
  return e;
}

/** The outermost of `(x)`, `x as T`, `x!`, `x satisfies T` around a node. */
export function climbWrappers(node: ts.Node): ts.Node {
  let n = node;
  while (
    ts.isParenthesizedExpression(n.parent) ||
    ts.isAsExpression(n.parent) ||
    ts.isNonNullExpression(n.parent) ||
    ts.isSatisfiesExpression(n.parent) ||
    ts.isTypeAssertionExpression(n.parent)
  ) {
    n = n.parent;
  }
  return n;
}

/** `=`, `+=`, `??=` and every other assignment operator. */
export function isAssignment(op: ts.SyntaxKind): boolean {
  return op >= ts.SyntaxKind.FirstAssignment && op <= ts.SyntaxKind.LastAssignment;
}

/** `??=`, `||=`, `&&=`: they assign the right side itself. */
export function isLogicalAssignment(op: ts.SyntaxKind): boolean {
  return (
    op === ts.SyntaxKind.QuestionQuestionEqualsToken ||
    op === ts.SyntaxKind.BarBarEqualsToken ||
    op === ts.SyntaxKind.AmpersandAmpersandEqualsToken
  );
}

/** `++` or `--`. */
export function isUpdate(op: ts.SyntaxKind): boolean {
  return op === ts.SyntaxKind.PlusPlusToken || op === ts.SyntaxKind.MinusMinusToken;
}

/** Whether the node is one side of `===`, `!==`, `==` or `!=`. */
export function isComparisonOperand(node: ts.Node): boolean {
  let n = node;
  while (ts.isParenthesizedExpression(n.parent)) n = n.parent;
  const p = n.parent;
  if (!ts.isBinaryExpression(p)) return false;
  const op = p.operatorToken.kind;
  return (
    op === ts.SyntaxKind.EqualsEqualsEqualsToken ||
    op === ts.SyntaxKind.ExclamationEqualsEqualsToken ||
    op === ts.SyntaxKind.EqualsEqualsToken ||
    op === ts.SyntaxKind.ExclamationEqualsToken
  );
}

/** Whether an expression is (part of) the left side of a destructuring assignment: `({ a: x } = o)`, `for ([k] of xs)`. */
export function isDestructuringTarget(node: ts.Node): boolean {
  const at = climbWrappers(node);
  const p = at.parent;
  if (ts.isBinaryExpression(p) && p.left === at && p.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
    // `x = 1` as a default inside a pattern is a target only when the pattern is.
    const q = climbWrappers(p).parent;
    const inPattern =
      ts.isArrayLiteralExpression(q) ||
      (ts.isPropertyAssignment(q) && q.initializer === climbWrappers(p)) ||
      ts.isShorthandPropertyAssignment(q);
    return inPattern ? isDestructuringTarget(ts.isArrayLiteralExpression(q) ? q : q.parent) : true;
  }
  if ((ts.isForOfStatement(p) || ts.isForInStatement(p)) && p.initializer === at) return true;
  if (ts.isArrayLiteralExpression(p)) return isDestructuringTarget(p);
  if (ts.isSpreadElement(p)) return isDestructuringTarget(p.parent);
  if (ts.isPropertyAssignment(p) && p.initializer === at) return isDestructuringTarget(p.parent);
  if (ts.isSpreadAssignment(p)) return isDestructuringTarget(p.parent);
  return false;
}

/** Whether an identifier is read as a value (not a property name, declaration name, label or type). */
export function isValueReference(id: ts.Identifier): boolean {
  const p = id.parent;
  if (ts.isPropertyAccessExpression(p)) return p.expression === id;
  if (ts.isPropertyAssignment(p)) return p.initializer === id;
  if (ts.isShorthandPropertyAssignment(p)) return true;
  if (
    ts.isVariableDeclaration(p) ||
    ts.isParameter(p) ||
    ts.isBindingElement(p) ||
    ts.isPropertyDeclaration(p) ||
    ts.isEnumMember(p)
  ) {
    return p.initializer === id;
  }
  if (ts.isExportSpecifier(p)) {
    const decl = p.parent.parent;
    return !decl.moduleSpecifier && !decl.isTypeOnly && !p.isTypeOnly && (p.propertyName ?? p.name) === id;
  }
  return !(
    ts.isQualifiedName(p) ||
    ts.isFunctionDeclaration(p) ||
    ts.isFunctionExpression(p) ||
    ts.isClassDeclaration(p) ||
    ts.isClassExpression(p) ||
    ts.isMethodDeclaration(p) ||
    ts.isGetAccessorDeclaration(p) ||
    ts.isSetAccessorDeclaration(p) ||
    ts.isPropertySignature(p) ||
    ts.isMethodSignature(p) ||
    ts.isInterfaceDeclaration(p) ||
    ts.isTypeAliasDeclaration(p) ||
    ts.isEnumDeclaration(p) ||
    ts.isModuleDeclaration(p) ||
    ts.isTypeParameterDeclaration(p) ||
    ts.isLabeledStatement(p) ||
    ts.isBreakOrContinueStatement(p) ||
    ts.isImportSpecifier(p) ||
    ts.isImportClause(p) ||
    ts.isNamespaceImport(p) ||
    ts.isNamespaceExport(p) ||
    ts.isImportEqualsDeclaration(p) ||
    ts.isMetaProperty(p) ||
    ts.isImportAttribute(p) ||
    ts.isNamedTupleMember(p)
  );
}

/** A `declare …` statement (it claims a global exists without defining it). */
export function isAmbientStatement(node: ts.Node): boolean {
  if (!ts.canHaveModifiers(node)) return false;
  const parent = node.parent;
  if (!parent || !(ts.isSourceFile(parent) || ts.isBlock(parent) || ts.isModuleBlock(parent))) return false;
  return ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword) ?? false;
}

/** The quoted name(s) a declaration declares, for messages. */
export function declaredName(node: ts.Node): string {
  if (ts.isVariableStatement(node)) {
    return node.declarationList.declarations.map((d) => `"${d.name.getText()}"`).join(', ');
  }
  const name = (node as { name?: ts.Node }).name;
  return name ? `"${name.getText()}"` : 'a global';
}

/** The member name read from `object` when `parent` is `object.name` or `object['name']`. */
export function memberName(parent: ts.Node, object: ts.Node): string | undefined {
  if (ts.isPropertyAccessExpression(parent) && parent.expression === object) return parent.name.text;
  if (ts.isElementAccessExpression(parent) && parent.expression === object) {
    const arg = unwrap(parent.argumentExpression);
    return ts.isStringLiteralLike(arg) ? arg.text : undefined;
  }
  return undefined;
}

/** The text of a plain property name; undefined for a computed one. */
export function propertyNameText(name: ts.PropertyName): string | undefined {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name) || ts.isPrivateIdentifier(name)) {
    return name.text;
  }
  return undefined;
}

/** Whether an import carries `with { type: 'json' }`. */
export function hasJsonAttribute(attributes: ts.ImportAttributes | undefined): boolean {
  return (
    attributes?.elements.some(
      (a) => a.name.text === 'type' && ts.isStringLiteralLike(a.value) && a.value.text === 'json',
    ) ?? false
  );
}

/** Whether `import()`'s options are `{ with: { type: 'json' } }`. */
export function hasJsonAttributeArg(options: ts.Expression | undefined): boolean {
  if (!options || !ts.isObjectLiteralExpression(options)) return false;
  return options.properties.some(
    (p) =>
      ts.isPropertyAssignment(p) &&
      propertyNameText(p.name) === 'with' &&
      ts.isObjectLiteralExpression(p.initializer) &&
      p.initializer.properties.some(
        (q) =>
          ts.isPropertyAssignment(q) &&
          propertyNameText(q.name) === 'type' &&
          ts.isStringLiteralLike(q.initializer) &&
          q.initializer.text === 'json',
      ),
  );
}

/** A short source excerpt for messages (`Array.prototype.some`), cut at 60 characters. */
export function describe(node: ts.Node): string {
  const text = node.getText().replace(/\s+/g, ' ');
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}
