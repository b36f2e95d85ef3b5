import { assertBranchName } from '@bmms/gitserver';
import { isServerName } from '@bmms/runner-template';

/** Whether `name` is a valid server name: the one rule of `@bmms/runner-template` (its `names.ts`). */
export const isValidServerName: (name: unknown) => name is string = isServerName;

/** Branch names a change may come from: git's rules, minus the protected main. */
export function isValidBranch(branch: unknown): branch is string {
  if (typeof branch !== 'string' || branch === 'main') return false;
  try {
    assertBranchName(branch);
    return true;
  } catch {
    return false;
  }
}
