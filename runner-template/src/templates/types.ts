import type { ServerSpec } from '../spec.ts';

/** A starting point for a new server: builds a complete ServerSpec from a server name and options. */
export interface Template {
  name: string;
  title: string;
  description: string;
  spec(serverName: string, options?: Record<string, unknown>): ServerSpec;
}
