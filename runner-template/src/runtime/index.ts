export {
  EgressDeniedError,
  ManifestError,
  SecretMissingError,
  SecretNotDeclaredError,
  ToolMismatchError,
  ToolTimeoutError,
} from '../errors.ts';
export type { Manifest } from '../spec.ts';
export { assertEgressAllowed, createEgressFetch } from './context.ts';
export { type Caller, CredentialError, createCredentialVerifier } from './credential.ts';
export { createChannelFetch, createNetworkFetch, createSocketFetch, type FetchHop } from './egress-socket.ts';
export type { LogFields, LogLevel } from './log.ts';
export { INPUT_ISSUES_META } from './mcp.ts';
export { checkTools, type RunningServer, type StartServerOptions, startServer } from './server.ts';
export {
  defineTool,
  type JsonValue,
  normalizeResult,
  type ToolContext,
  type ToolDefinition,
  type ToolReturn,
} from './tool.ts';
