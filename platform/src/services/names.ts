import { assertBranchName } from '@bmms/gitserver';

/** Server names are DNS labels: they become hostnames in host mode. */
export const SERVER_NAME = /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/;

/** Whether `name` is a valid server name. `--` is reserved (previews are `<name>--pr-<N>`). */
export function isValidServerName(name: unknown): name is string {
  return typeof name === 'string' && SERVER_NAME.test(name) && !name.includes('--');
}

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
