import { manifestCheck } from './manifest.ts';
import { typecheckCheck } from './typecheck.ts';
import type { Check } from './types.ts';

export { type Check, type CheckInput, type CheckOutcome, type Finding, formatFinding, outcomeOf } from './types.ts';

/** The checks that read the tree only (no compiler process): fast, and what the corpus runs. */
export function staticChecks(): Check[] {
  return [manifestCheck];
}

/** Every check of a suite, in the order a reviewer reads them. */
export function allChecks(): Check[] {
  return [...staticChecks(), typecheckCheck()];
}
