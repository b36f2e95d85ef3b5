export * from './errors.ts';
export { GitHubGitProvider, type GitHubGitProviderOptions } from './github.ts';
export type { GitAccess, GitHttpDeps, GitPrincipal, GitService, RefUpdate } from './http.ts';
export { createGitHttpHandler } from './http.ts';
export type { InternalGitProviderOptions } from './internal.ts';
export { InternalGitProvider } from './internal.ts';
export { assertBranchName, assertRepoName, normalizePath } from './names.ts';
export type * from './provider.ts';
export { type PushLimits, pushLimitsFromEnv } from './push-limits.ts';
export { scanFile, scanSource } from './scan/preset.ts';
export {
  isBinaryPath,
  looksBinary,
  mask,
  type SecretFinding,
  type SecretRule,
  scanBytes,
  scanText,
  shannonEntropy,
} from './scan/secrets.ts';
