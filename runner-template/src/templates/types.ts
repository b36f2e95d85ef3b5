import type { z } from 'zod';
import type { RenderExtras } from '../render.ts';
import type { ServerSpec } from '../spec.ts';

/** A starting point for a new server: builds a complete ServerSpec from a server name and options. */
export interface Template {
  name: string;
  title: string;
  description: string;
  /** The options it takes (a strict zod object: an unknown option is an error naming it). */
  options: z.ZodType;
  /** The spec of a new server; throws TemplateOptionsError for invalid options. */
  spec(serverName: string, options?: Record<string, unknown>): ServerSpec;
  /** Files, scripts and packages rendered besides the spec (helpers under src/, tests under test/). */
  extras?(serverName: string, options?: Record<string, unknown>): RenderExtras;
}
