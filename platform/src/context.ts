import type { GitProvider } from '@bmms/gitserver';
import type { PrismaClient } from '@bmms/prisma';
import type { Reconciler, RouteTable } from '@bmms/reconciler';
import type { CheckService } from './checks/suites.ts';
import type { Generation } from './generation/index.ts';
import type { Logger } from './logger.ts';
import type { PreviewManager } from './previews.ts';
import type { SecretStore } from './secrets/store.ts';

/** Everything a request handler may use, passed in (tests build it from real parts). */
export interface PlatformContext {
  db: PrismaClient;
  git: GitProvider;
  checks: CheckService;
  reconciler: Reconciler;
  routes: RouteTable;
  previews: PreviewManager;
  /** Per-server encrypted secrets. */
  secrets: SecretStore;
  log: Logger;
  /** Server generation: from a prompt (model) and from OpenAPI documents. */
  generation: Generation;
  /** Absolute base URL of the platform when configured; otherwise derived from each request. */
  publicUrl: string | undefined;
  /** Where the built site lives (served at /). */
  siteDir: string;
}
