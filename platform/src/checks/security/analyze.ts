import ts from 'typescript-api';
import type { Finding } from '../types.ts';
import { Analysis } from './analysis.ts';
import { checkGlobal, checkMutationTarget } from './globals.ts';
import { checkImportMeta, checkModule } from './imports.ts';
import { checkElementAccess, checkMemberName, checkPatternKey } from './members.ts';
import {
  declaredName,
  hasJsonAttribute,
  hasJsonAttributeArg,
  isAmbientStatement,
  isAssignment,
  isValueReference,
} from './syntax.ts';

/** Analyses one file's text; `file` is repo-relative (`src/tools/x.ts`). Parses once, no type checker. */
export function analyzeSource(file: string, text: string): Finding[] {
  const a = new Analysis(file, text);
  const visit = (node: ts.Node): void => {
    if (checkDeclaration(a, node, visit)) return;
    checkNode(a, node);
    ts.forEachChild(node, visit);
  };
  visit(a.sf);
  return a.findings;
}

/**
 * Module syntax, ambient declarations and types. True when the node is dealt with here and the walk does not
 * enter it (types hold no code; of a class heritage only the `extends` expressions are walked).
 */
function checkDeclaration(a: Analysis, node: ts.Node, visit: (node: ts.Node) => void): boolean {
  if (isAmbientStatement(node)) {
    a.report(node, 'no-ambient-declaration', `declares ${declaredName(node)} with \`declare\``);
    return true;
  }
  if (ts.isImportDeclaration(node)) {
    if (!node.importClause?.isTypeOnly)
      checkModule(a, node, node.moduleSpecifier, hasJsonAttribute(node.attributes), 'imports');
    return true;
  }
  if (ts.isExportDeclaration(node)) {
    if (node.isTypeOnly) return true;
    if (node.moduleSpecifier) {
      checkModule(a, node, node.moduleSpecifier, hasJsonAttribute(node.attributes), 're-exports');
      return true;
    }
  }
  if (ts.isImportEqualsDeclaration(node)) {
    if (ts.isExternalModuleReference(node.moduleReference)) a.report(node, 'no-require', 'uses import = require()');
    return true;
  }
  if (ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node) || ts.isTypeParameterDeclaration(node))
    return true;
  if (ts.isHeritageClause(node)) {
    if (node.token === ts.SyntaxKind.ExtendsKeyword && ts.isClassLike(node.parent)) {
      for (const t of node.types) visit(t.expression);
    }
    return true;
  }
  if (ts.isExpressionWithTypeArguments(node)) {
    visit(node.expression);
    return true;
  }
  return ts.isTypeNode(node);
}

/** The rules for one node of code; the walk then enters its children. */
function checkNode(a: Analysis, node: ts.Node): void {
  if (ts.isIdentifier(node)) {
    if (isValueReference(node) && a.resolve(node) === undefined) checkGlobal(a, node);
  } else if (ts.isPropertyAccessExpression(node)) {
    checkMemberName(a, node, node.name.text);
  } else if (ts.isElementAccessExpression(node)) {
    checkElementAccess(a, node);
  } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
    const spec = node.arguments[0];
    if (spec) checkModule(a, node, spec, hasJsonAttributeArg(node.arguments[1]), 'import()s');
  } else if (ts.isMetaProperty(node) && node.keywordToken === ts.SyntaxKind.ImportKeyword) {
    checkImportMeta(a, node);
  } else if (ts.isBinaryExpression(node) && isAssignment(node.operatorToken.kind)) {
    checkMutationTarget(a, node.left, 'assigns to');
  } else if (ts.isDeleteExpression(node)) {
    checkMutationTarget(a, node.expression, 'deletes');
  } else if (
    (ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) &&
    (node.operator === ts.SyntaxKind.PlusPlusToken || node.operator === ts.SyntaxKind.MinusMinusToken)
  ) {
    checkMutationTarget(a, node.operand, 'changes');
  } else if (ts.isWithStatement(node)) {
    a.report(node, 'no-with', 'uses a with statement');
  } else if (node.kind === ts.SyntaxKind.DebuggerStatement) {
    a.report(node, 'no-debugger', 'has a debugger statement');
  } else if (
    (ts.isBindingElement(node) && ts.isObjectBindingPattern(node.parent)) ||
    ts.isPropertyAssignment(node) ||
    ts.isShorthandPropertyAssignment(node) ||
    ts.isMethodDeclaration(node)
  ) {
    checkPatternKey(a, node);
  }
}
