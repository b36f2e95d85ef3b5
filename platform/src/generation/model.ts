import Anthropic from '@anthropic-ai/sdk';
import type { z } from 'zod';
import { ApiError, modelNotConfigured, modelOutputInvalid, modelRejected, modelUnavailable } from '../errors.ts';
import type { GenerationConfig } from './config.ts';

type MessageParam = Anthropic.Messages.MessageParam;
type ContentBlock = Anthropic.Messages.ContentBlock;

/** A tool the model must call, its JSON Schema (what the model sees) and the zod schema its input must pass. */
export interface ToolCall<T> {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
  schema: z.ZodType<T>;
  /** Checks beyond the schema (e.g. security rules on generated code); returns problems, empty when fine. */
  check?: (value: T) => string[];
}

/** What happened during one structured call, for progress events. */
export type ModelEvent =
  | { type: 'model_retry'; reason: string }
  | { type: 'output_invalid'; attempt: number; problems: string[] };

/** Asks a model for one tool call and returns its validated input. */
export interface Model {
  /** Sends `messages` forcing `tool`; invalid input goes back with its errors (bounded); throws an ApiError at the end. */
  call<T>(
    input: { system: string; messages: MessageParam[]; tool: ToolCall<T> },
    onEvent?: (event: ModelEvent) => void,
  ): Promise<T>;
}

/** zod issues as `path: message` lines the model can act on. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
}

/** Maps an SDK failure (after its own retries) to the error a user sees. */
function mapError(err: unknown, retries: number): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof Anthropic.APIConnectionTimeoutError) return modelUnavailable(`timed out (${retries} retries)`);
  if (err instanceof Anthropic.APIConnectionError) return modelUnavailable(`cannot connect (${retries} retries)`);
  if (err instanceof Anthropic.AuthenticationError || err instanceof Anthropic.PermissionDeniedError) {
    return modelRejected('the API key was not accepted; check ANTHROPIC_API_KEY');
  }
  if (err instanceof Anthropic.APIError) {
    const status = err.status ?? 0;
    if (status === 429 || status === 529 || status >= 500) {
      return modelUnavailable(
        `${status === 429 ? 'rate limited' : status === 529 ? 'overloaded' : `HTTP ${status}`} after ${retries} retries`,
      );
    }
    return modelRejected(`HTTP ${status}`);
  }
  return modelUnavailable((err as Error)?.message ?? String(err));
}

/** The Anthropic Messages API through the official SDK (streaming, forced tool use). */
export class AnthropicModel implements Model {
  readonly #config: GenerationConfig;

  constructor(config: GenerationConfig) {
    this.#config = config;
  }

  #client(onEvent?: (event: ModelEvent) => void): Anthropic {
    const key = this.#config.anthropicApiKey;
    if (!key) throw modelNotConfigured();
    return new Anthropic({
      apiKey: key,
      ...(this.#config.anthropicBaseUrl ? { baseURL: this.#config.anthropicBaseUrl } : {}),
      maxRetries: this.#config.maxRetries,
      timeout: this.#config.timeoutMs,
      logLevel: 'off',
      // The SDK retries overload, rate limits, 5xx and timeouts with backoff; this only reports them.
      fetch: async (url: string | URL | Request, init?: RequestInit) => {
        const res = await fetch(url, init);
        if (res.status === 429 || res.status >= 500) {
          onEvent?.({ type: 'model_retry', reason: res.status === 529 ? 'overloaded (529)' : `HTTP ${res.status}` });
        }
        return res;
      },
    });
  }

  async call<T>(
    input: { system: string; messages: MessageParam[]; tool: ToolCall<T> },
    onEvent?: (event: ModelEvent) => void,
  ): Promise<T> {
    const client = this.#client(onEvent);
    const { tool } = input;
    const messages: MessageParam[] = [...input.messages];
    const attempts = this.#config.maxRepairs + 1;
    let problems: string[] = [];
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let content: ContentBlock[];
      try {
        const stream = client.messages.stream({
          model: this.#config.model,
          max_tokens: this.#config.maxTokens,
          system: input.system,
          messages,
          tools: [
            {
              name: tool.name,
              description: tool.description,
              input_schema: tool.inputSchema as Anthropic.Messages.Tool.InputSchema,
            },
          ],
          tool_choice: { type: 'tool', name: tool.name },
        });
        content = (await stream.finalMessage()).content;
      } catch (err) {
        throw mapError(err, this.#config.maxRetries);
      }
      const use = content.find(
        (b): b is Anthropic.Messages.ToolUseBlock => b.type === 'tool_use' && b.name === tool.name,
      );
      messages.push({ role: 'assistant', content });
      if (!use) {
        problems = [`no call of the ${tool.name} tool in the answer`];
        messages.push({ role: 'user', content: `Answer by calling the ${tool.name} tool.` });
        onEvent?.({ type: 'output_invalid', attempt, problems });
        continue;
      }
      const parsed = tool.schema.safeParse(use.input);
      problems = parsed.success ? (tool.check?.(parsed.data) ?? []) : describeIssues(parsed.error);
      if (parsed.success && problems.length === 0) return parsed.data;
      onEvent?.({ type: 'output_invalid', attempt, problems });
      messages.push({
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: use.id,
            is_error: true,
            content: `The input is invalid. Fix every problem and call ${tool.name} again:\n${problems.map((p) => `- ${p}`).join('\n')}`,
          },
        ],
      });
    }
    throw modelOutputInvalid(attempts, problems);
  }
}
