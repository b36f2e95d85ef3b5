import type { PreviewManager } from '../previews.ts';
import { dependenciesCheck } from './dependencies.ts';
import { manifestCheck } from './manifest.ts';
import { previewCheck } from './preview.ts';
import { secretsCheck } from './secrets.ts';
import { securityCheck } from './security/index.ts';
import { surfaceCheck } from './surface.ts';
import { typecheckCheck } from './typecheck.ts';
import type { Check } from './types.ts';

export { type Check, type CheckInput, type CheckOutcome, type Finding, formatFinding, outcomeOf } from './types.ts';

/** The checks that read the tree only (no compiler process): fast, and what the corpus runs. */
export function staticChecks(): Check[] {
  return [manifestCheck, surfaceCheck, securityCheck, secretsCheck, dependenciesCheck];
}

/** Every check of a suite, in the order a reviewer reads them; `preview` runs once the static checks passed. */
export function allChecks(previews?: PreviewManager): Check[] {
  const fast = staticChecks();
  return [
    ...fast,
    typecheckCheck(),
    ...(previews
      ? [
          previewCheck(
            previews,
            fast.map((c) => c.name),
          ),
        ]
      : []),
  ];
}
