import { z } from 'zod';

/** How servers are generated: where OpenAPI documents may come from, and the model used for prompts. */
export interface GenerationConfig {
  /** Hosts (`host` or `host:port`) an OpenAPI document URL may name (BMMS_OPENAPI_HOSTS, comma-separated). */
  openapiHosts: string[];
  /** BMMS_OPENAPI_TIMEOUT_SECONDS: the longest reading and converting one OpenAPI document may take. */
  openapiTimeoutMs: number;
  /** BMMS_OPENAPI_MEMORY_MB: the heap of the worker that reads one OpenAPI document. */
  openapiMemoryMb: number;
  /** ANTHROPIC_API_KEY; without it the prompt path answers with an error saying what to set. */
  anthropicApiKey: string | undefined;
  /** ANTHROPIC_BASE_URL (default: the SDK's). */
  anthropicBaseUrl: string | undefined;
  /** BMMS_MODEL. */
  model: string;
  /** BMMS_MAX_TOKENS: the most tokens one model answer may take. */
  maxTokens: number;
  /** BMMS_MODEL_TIMEOUT_SECONDS: one model request. */
  timeoutMs: number;
  /** Model requests retried on overload (429/529), 5xx and timeouts, with backoff. */
  maxRetries: number;
  /** Invalid model output sent back with its errors at most this many times per step. */
  maxRepairs: number;
}

const DEFAULT_OPENAPI_HOSTS = ['raw.githubusercontent.com', 'api.apis.guru'];

const Env = z.object({
  BMMS_OPENAPI_HOSTS: z.string().optional(),
  BMMS_OPENAPI_TIMEOUT_SECONDS: z.coerce.number().positive().max(3600).default(120),
  BMMS_OPENAPI_MEMORY_MB: z.coerce.number().int().min(64).max(16_384).default(2048),
  ANTHROPIC_API_KEY: z.string().optional(),
  ANTHROPIC_BASE_URL: z.url().optional(),
  BMMS_MODEL: z.string().min(1).default('claude-sonnet-4-5'),
  BMMS_MAX_TOKENS: z.coerce.number().int().min(256).max(128_000).default(16_000),
  BMMS_MODEL_TIMEOUT_SECONDS: z.coerce.number().positive().default(300),
  BMMS_MODEL_RETRIES: z.coerce.number().int().min(0).max(10).default(4),
  BMMS_MODEL_REPAIRS: z.coerce.number().int().min(0).max(5).default(2),
});

/** Reads the generation settings from the environment; throws naming every bad variable. */
export function generationConfigFromEnv(env: NodeJS.ProcessEnv = process.env): GenerationConfig {
  const parsed = Env.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    throw new Error(
      `invalid configuration:\n  ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n  ')}`,
    );
  }
  const e = parsed.data;
  return {
    openapiHosts:
      e.BMMS_OPENAPI_HOSTS === undefined
        ? DEFAULT_OPENAPI_HOSTS
        : e.BMMS_OPENAPI_HOSTS.split(',')
            .map((h) => h.trim().toLowerCase())
            .filter(Boolean),
    openapiTimeoutMs: e.BMMS_OPENAPI_TIMEOUT_SECONDS * 1000,
    openapiMemoryMb: e.BMMS_OPENAPI_MEMORY_MB,
    anthropicApiKey: e.ANTHROPIC_API_KEY,
    anthropicBaseUrl: e.ANTHROPIC_BASE_URL,
    model: e.BMMS_MODEL,
    maxTokens: e.BMMS_MAX_TOKENS,
    timeoutMs: e.BMMS_MODEL_TIMEOUT_SECONDS * 1000,
    maxRetries: e.BMMS_MODEL_RETRIES,
    maxRepairs: e.BMMS_MODEL_REPAIRS,
  };
}
