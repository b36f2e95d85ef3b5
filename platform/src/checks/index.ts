import type { Plan } from '../plans.ts';
import type { PreviewManager } from '../previews.ts';
import { conformanceCheck } from './conformance/index.ts';
import { contractCheck } from './contract/index.ts';
import { dependenciesCheck } from './dependencies.ts';
import { createManifestCheck, manifestCheck } from './manifest.ts';
import { previewCheck } from './preview.ts';
import { type ReplayDeps, replayCheck } from './replay/index.ts';
import { secretsCheck } from './secrets.ts';
import { securityCheck } from './security/index.ts';
import { createSurfaceCheck, surfaceCheck } from './surface.ts';
import { type JobRunner, testsCheck } from './tests.ts';
import { typecheckCheck } from './typecheck.ts';
import type { Check } from './types.ts';
import { viewsCheck } from './view-browser.ts';

export { type JobRunner, testsCheck } from './tests.ts';
export { type Check, type CheckInput, type CheckOutcome, type Finding, formatFinding, outcomeOf } from './types.ts';

/** The checks that read the tree only (no compiler process): fast, and what the corpus runs. */
export function staticChecks(): Check[] {
  return [manifestCheck, surfaceCheck, securityCheck, secretsCheck, dependenciesCheck];
}

/**
 * Every check of a suite, in the order a reviewer reads them. `views` (each view opened in a browser), `tests` and
 * `preview` run the code, so they run once the static checks passed (alongside `typecheck`), and `replay`, `contract`
 * and `conformance` call the preview once it serves (`replay` only with recorded calls: `replay`'s deps read them); `tests` and the preview's checks are left out when the platform has
 * nothing to run them with. With `planOf`, the manifest and surface checks hold each server to its org's plan (else to Hobby's bounds).
 */
export function allChecks(
  previews?: PreviewManager,
  planOf?: (serverName: string) => Plan | Promise<Plan>,
  jobs?: () => JobRunner,
  replay?: Omit<ReplayDeps, 'endpoint'>,
): Check[] {
  const fast = planOf
    ? staticChecks().map((c) =>
        c === manifestCheck ? createManifestCheck({ planOf }) : c === surfaceCheck ? createSurfaceCheck({ planOf }) : c,
      )
    : staticChecks();
  const gate = fast.map((c) => c.name);
  return [
    ...fast,
    typecheckCheck(),
    viewsCheck(gate),
    ...(jobs ? [testsCheck(jobs, gate)] : []),
    // Before the preview in reading order, though it waits for it: its diff is what a reviewer reads first.
    ...(previews && replay
      ? [replayCheck({ endpoint: (s, c) => previews.endpoint(s, c), ...replay }, [...gate, 'preview'])]
      : []),
    ...(previews
      ? [
          previewCheck(previews, gate),
          contractCheck(previews, [...gate, 'preview']),
          conformanceCheck(previews, [...gate, 'preview']),
        ]
      : []),
  ];
}
