export { EgressRefusedError } from './errors.ts';
export { EGRESS_SANDBOX_DIR, EGRESS_SANDBOX_SOCKET, egressProvisioner } from './provisioner.ts';
export {
  checkAllowed,
  EgressProxy,
  type EgressProxyOptions,
  type EgressStats,
  type EgressTap,
  type RecordedAnswer,
  type ReplaySource,
  type ResolveAll,
} from './proxy.ts';
