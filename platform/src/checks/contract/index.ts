import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Manifest, parseManifest } from '@bmms/runner-template';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import type { PreviewEndpoint } from '../../previews.ts';
import { inputsKey, PassedRuns } from '../reuse.ts';
import { type Check, type CheckInput, type CheckOutcome, type Finding, formatFinding } from '../types.ts';
import { type Answer, callPreview } from './call.ts';
import { type ContractCase, compileSchema, generateCases, seedOf } from './inputs.ts';
import { judge, type Problem, sameAnswer } from './judge.ts';

/** Where the contract check finds the preview it calls. */
export interface ContractDeps {
  /** The preview serving the checked tree, or why there is none (the check is then skipped with that reason). */
  endpoint(serverName: string, commitSha: string): Promise<PreviewEndpoint | string>;
}

export interface ContractOptions {
  /** Time on top of the tool's own `limits.timeoutMs` before a call counts as hanging (default 5 s). */
  graceMs?: number;
  /** Inputs are no longer sent once the run took this long (default 90 s); the check's limit is 30 s more. */
  budgetMs?: number;
}

/** Changes when the inputs or the rules change, so a result kept for a tree is not reused across versions. */
const CONTRACT_VERSION = 'contract/1';
/** How many of the last inputs a server-down finding can name, and how close before it they must have been answered. */
const SUSPECTS = 3;
const SUSPECT_WINDOW_MS = 1_000;

type ToolSpec = Manifest['tools'][number];

/**
 * `contract`: for each tool of mcp.json, inputs generated from its input schema (seeded by server, tool and schema:
 * the same inputs every run) are sent to the preview once it serves: valid ones and edge cases must come back as a
 * result or a tool error, invalid ones as a validation error; none may crash the tool or the server, hang past its
 * timeout or answer malformed; structured results must match the tool's outputSchema; tools annotated readOnlyHint
 * or idempotentHint answer the same input twice alike. Runs once `preview` passed, alongside typecheck and tests.
 */
export function contractCheck(deps: ContractDeps, after: string[], options: ContractOptions = {}): Check {
  const budgetMs = options.budgetMs ?? 90_000;
  const passed = new PassedRuns();
  return {
    name: 'contract',
    after,
    timeoutMs: budgetMs + 30_000,
    async run(input): Promise<CheckOutcome> {
      const key = await inputsKey(input.serverName, input.dir, CONTRACT_VERSION);
      const earlier = passed.get(key);
      if (earlier) return earlier;
      const manifest = await readManifest(input.dir);
      if (typeof manifest === 'string') return { conclusion: 'failure', summary: manifest, log: `${manifest}\n` };
      input.progress?.('waiting for the preview');
      const endpoint = await deps.endpoint(input.serverName, input.commitSha);
      if (typeof endpoint === 'string') {
        const summary = `no contract run: ${endpoint}`;
        return { conclusion: 'skipped', summary, log: `${summary}\n` };
      }
      const run = new ContractRun(endpoint, manifest, input, options.graceMs ?? 5000, Date.now() + budgetMs);
      return passed.keep(key, await run.all());
    },
  };
}

async function readManifest(dir: string): Promise<Manifest | string> {
  try {
    return parseManifest(await readFile(path.join(dir, 'mcp.json'), 'utf8'));
  } catch (err) {
    return `mcp.json cannot be read: ${err instanceof Error ? err.message : String(err)} (see the manifest check)`;
  }
}

interface ToolPlan {
  tool: ToolSpec;
  seed: number;
  cases: ContractCase[];
  output?: ValidateFunction;
}

/** One run of the contract check against one preview: the plans of every tool, the calls, the findings. */
class ContractRun {
  readonly #endpoint: PreviewEndpoint;
  readonly #manifest: Manifest;
  readonly #input: CheckInput;
  readonly #timeoutMs: number;
  readonly #deadline: number;
  readonly findings: Finding[] = [];
  readonly #log: string[] = [];
  /** What passed but a reviewer should know: inputs the schema allows that a tool refused. */
  readonly #notes: string[] = [];
  #down = false;
  /** How long the last call took (shown in the log). */
  #took = 0;
  /** The first finding of each tool and rule, and how many more inputs did the same. */
  readonly #alike = new Map<string, { finding: Finding; more: number }>();
  /** The last input sent, for naming it when the server stops answering after it. */
  /** The last inputs sent, newest last, with when their answer came: a crash on a timer shows up a call or two later. */
  #recent: { shown: string; at: number }[] = [];
  #sent = 0;
  #unsent = 0;
  #twice = 0;

  constructor(endpoint: PreviewEndpoint, manifest: Manifest, input: CheckInput, graceMs: number, deadline: number) {
    this.#endpoint = endpoint;
    this.#manifest = manifest;
    this.#input = input;
    this.#timeoutMs = manifest.limits.timeoutMs + graceMs;
    this.#deadline = deadline;
  }

  /** Sends every tool's inputs, one call at a time, and sums up. */
  async all(): Promise<CheckOutcome> {
    const plans = this.#manifest.tools.map((tool) => this.#plan(tool));
    const total = plans.reduce((n, p) => n + p.cases.length, 0);
    for (const [i, plan] of plans.entries()) {
      this.#input.progress?.(
        `calling ${plan.tool.name} (tool ${i + 1} of ${plans.length}) with ${plan.cases.length} generated input(s); ${this.#sent} of ${total} sent`,
      );
      await this.#tool(plan);
    }
    return this.#outcome(plans);
  }

  #plan(tool: ToolSpec): ToolPlan {
    const seed = seedOf(this.#input.serverName, tool.name, tool.inputSchema);
    let cases: ContractCase[] = [];
    let output: ValidateFunction | undefined;
    let which = 'inputSchema';
    try {
      cases = generateCases(tool.inputSchema, seed);
      which = 'outputSchema';
      if (tool.outputSchema !== undefined) output = compileSchema(tool.outputSchema);
    } catch (err) {
      this.findings.push({
        file: 'mcp.json',
        rule: 'contract-schema',
        message: `tool "${tool.name}": its ${which} is not valid JSON Schema 2020-12: ${err instanceof Error ? err.message : String(err)}`,
        fix: `correct the ${which} in mcp.json: clients compile it, and one invalid schema can make a client refuse the whole tools/list`,
      });
    }
    return { tool, seed, cases, ...(output ? { output } : {}) };
  }

  async #tool(plan: ToolPlan): Promise<void> {
    const { tool } = plan;
    this.#log.push(`tool ${tool.name} (seed ${plan.seed}): ${plan.cases.length} input(s)`);
    let hung = false;
    const refused: string[] = [];
    let ran = false;
    let repeatable: { kase: ContractCase; answer: Answer } | undefined;
    for (const kase of plan.cases) {
      if (this.#down || hung || this.#stopped()) {
        this.#unsent++;
        continue;
      }
      const before = this.#suspects();
      const started = Date.now();
      const answer = await this.#call(tool.name, kase.arguments);
      this.#took = Date.now() - started;
      const verdict = judge(kase, answer, plan.output);
      // A validation error for an input the schema allows is a tool error in 2025-11-25's terms: noted, not failed,
      // unless the tool refuses every such input (then its handler never ran at all).
      const problem = verdict?.rule === 'contract-rejected-valid' ? undefined : verdict;
      if (verdict?.rule === 'contract-rejected-valid') refused.push(`${show(kase.arguments)}: ${verdict.message}`);
      else if (kase.kind !== 'invalid' && answer.kind === 'result') ran = true;
      if (problem?.rule === 'contract-server-down' && before) problem.message += `; ${before}`;
      this.#record(tool.name, kase, answer, problem);
      if (problem?.rule === 'contract-server-down') this.#down = true;
      if (problem?.rule === 'contract-hang') hung = true;
      if (!repeatable && kase.kind !== 'invalid' && answer.kind === 'result') repeatable = { kase, answer };
    }
    if (refused.length > 0) this.#refusedNote(tool.name, refused, ran);
    const hints = tool.annotations ?? {};
    if (!repeatable || !(hints.readOnlyHint || hints.idempotentHint) || this.#down || this.#stopped()) return;
    const again = await this.#call(tool.name, repeatable.kase.arguments);
    this.#twice++;
    const hint = hints.readOnlyHint ? 'readOnlyHint' : 'idempotentHint';
    const broken = judge(repeatable.kase, again, plan.output);
    const differs: Problem = {
      rule: 'contract-not-idempotent',
      message: `is annotated ${hint} but answered the same input differently the second time: ${show(resultOf(repeatable.answer))} then ${show(resultOf(again))}`,
      fix: `give the same answer to the same input, or drop ${hint} from its annotations in mcp.json`,
    };
    // A crash or a hang the second time is that; a structured result that is off is reported already.
    const problem =
      broken && broken.rule !== 'contract-output-schema'
        ? broken
        : sameAnswer(repeatable.answer, again)
          ? broken
          : differs;
    this.#record(tool.name, { ...repeatable.kase, label: `${repeatable.kase.label}, called again` }, again, problem);
  }

  /** Inputs the schema allows that the tool refused: a note, or a finding when it refused every one. */
  #refusedNote(tool: string, refused: string[], ran: boolean): void {
    const first = refused[0] as string;
    if (ran) {
      this.#notes.push(`tool "${tool}" refused ${refused.length} input(s) its inputSchema allows, e.g. ${first}`);
      return;
    }
    this.findings.push({
      file: 'mcp.json',
      rule: 'contract-rejected-valid',
      message: `tool "${tool}" refused every input its inputSchema allows (${refused.length}), so it never ran; e.g. ${first}`,
      fix: 'make the zod input of the tool and its inputSchema in mcp.json agree (declare minLength, format, pattern… in mcp.json)',
    });
  }

  async #call(tool: string, args: Record<string, unknown>): Promise<Answer> {
    this.#sent++;
    const answer = await callPreview(this.#endpoint, tool, args, this.#timeoutMs);
    this.#recent = [...this.#recent.slice(-(SUSPECTS - 1)), { shown: `tool "${tool}" ${show(args)}`, at: Date.now() }];
    return answer;
  }

  /**
   * The inputs that may have taken the server down before the one that found it down: the last one, and those
   * answered less than a second before it (an error thrown on a timer or a promise nobody awaits lands later).
   */
  #suspects(): string {
    const last = this.#recent.at(-1);
    if (!last) return '';
    const near = this.#recent.filter((r) => last.at - r.at < SUSPECT_WINDOW_MS);
    if (near.length === 1) return `the input before it was ${last.shown}`;
    return `the inputs answered just before it were, newest first: ${near
      .reverse()
      .map((r) => r.shown)
      .join('; ')}`;
  }

  #stopped(): boolean {
    return this.#input.signal.aborted || Date.now() > this.#deadline;
  }

  #record(tool: string, kase: ContractCase, answer: Answer, problem: Problem | undefined): void {
    const what = `${kase.kind} input ${show(kase.arguments)} (${kase.label})`;
    this.#log.push(
      `  ${problem ? '✗' : '✓'} ${what} → ${describe(answer)} (${this.#took} ms)${problem ? ` [${problem.rule}]` : ''}`,
    );
    if (!problem) return;
    // One finding per tool and rule, naming the first input; the others are counted (all are in the log).
    const same = `${tool}\0${problem.rule}`;
    const earlier = this.#alike.get(same);
    if (earlier) {
      earlier.more++;
      return;
    }
    const finding: Finding = {
      file: 'mcp.json',
      rule: problem.rule,
      message: `tool "${tool}", ${what}: ${problem.message}`,
      fix: problem.fix,
    };
    this.#alike.set(same, { finding, more: 0 });
    this.findings.push(finding);
  }

  #outcome(plans: ToolPlan[]): CheckOutcome {
    const count = (kind: ContractCase['kind']) =>
      plans.reduce((n, p) => n + p.cases.filter((c) => c.kind === kind).length, 0);
    const inputs = `${count('valid')} valid, ${count('edge')} edge case(s), ${count('invalid')} invalid`;
    const unsent =
      this.#unsent > 0
        ? `; ${this.#unsent} input(s) not sent (the server went down, a tool hung, or time ran out)`
        : '';
    const notes = this.#notes.length > 0 ? `\n${this.#notes.map((n) => `note: ${n}`).join('\n')}` : '';
    const log = `${this.#notes.map((n) => `note: ${n}\n`).join('')}${this.#log.join('\n')}\n`;
    if (this.findings.length === 0) {
      const twice = this.#twice > 0 ? `; ${this.#twice} readOnlyHint/idempotentHint tool(s) answered alike twice` : '';
      const summary = `${plans.length} tool(s), ${this.#sent} call(s) to the preview (${inputs}): ${notes ? 'no crash, hang or wrong answer' : 'every answer as the schemas say'}${twice}${unsent}. Inputs are seeded per tool: the same every run (see the log)${notes}`;
      return { conclusion: this.#unsent > 0 ? 'failure' : 'success', summary, log: `${summary}\n\n${log}` };
    }
    for (const { finding, more } of this.#alike.values()) {
      if (more > 0) finding.message += ` (and ${more} more input(s) alike: see the log)`;
    }
    const lines = this.findings.map(formatFinding);
    const shown = lines.slice(0, 20);
    if (lines.length > shown.length) shown.push(`… and ${lines.length - shown.length} more (see the log)`);
    const summary = `${this.findings.length} finding(s) in ${this.#sent} call(s) to the preview (${inputs})${unsent}:\n${shown.join('\n')}${notes}`;
    return { conclusion: 'failure', summary, log: `${lines.join('\n')}\n\n${log}`, findings: this.findings };
  }
}

function resultOf(answer: Answer): unknown {
  return answer.kind === 'result' ? answer.result : answer;
}

/** An answer on one line: `result`, `tool error: …`, `JSON-RPC error -32602: …`. */
function describe(answer: Answer): string {
  switch (answer.kind) {
    case 'result': {
      const first = answer.result.content[0] as { text?: unknown } | undefined;
      const text = typeof first?.text === 'string' ? first.text : JSON.stringify(answer.result.content);
      return `${answer.result.isError ? 'tool error' : 'result'}: ${clip(text, 160)}`;
    }
    case 'error':
      return `JSON-RPC error ${answer.code}: ${clip(answer.message, 160)}`;
    case 'http':
      return `HTTP ${answer.status}`;
    case 'timeout':
      return `no answer within ${answer.ms / 1000} s`;
    case 'unreachable':
      return `no answer: ${answer.detail}`;
    case 'malformed':
      return `malformed: ${answer.detail}`;
  }
}

/** A value as compact JSON, long strings and arrays shortened (`"xxxx…" (10000 characters)`), at most 300 characters. */
export function show(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'string' && v.length > 40) return `${v.slice(0, 12)}… (${v.length} characters)`;
    if (Array.isArray(v) && v.length > 5) return [...v.slice(0, 3), `… (${v.length} items)`];
    return v;
  });
  return clip(text ?? 'undefined', 300);
}

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
