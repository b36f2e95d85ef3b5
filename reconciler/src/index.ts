export { BundleCache, buildBundle, buildTestBundle } from './bundle.ts';
export {
  applyConditions,
  type Condition,
  type ConditionPatch,
  type ConditionType,
  readConditions,
} from './conditions.ts';
export { DEPLOY_STEPS, type DeployEvent, type DeployStep, type ReconcilerLog } from './deploy-steps.ts';
export { connectOptions, type Endpoint, tcpAddress, tcpEndpoint } from './endpoint.ts';
export {
  BundleError,
  InstanceStartError,
  InvalidTreeShaError,
  ProbeError,
  type ProbeFailure,
  ReconcilerError,
  SandboxUnavailableError,
  UnixRequestError,
  ViewBuildError,
} from './errors.ts';
export { ServerFiles } from './files.ts';
export { KeyedWrites } from './keyed-writes.ts';
export {
  AdvisoryLockLeadership,
  type Leadership,
  RECONCILER_LOCK_KEY,
  SoloLeadership,
  whileLeading,
} from './leadership.ts';
export {
  type GateVerdict,
  type InstanceProvisioner,
  type InstanceSetup,
  Reconciler,
  type ReconcilerDeps,
  type RevisionGate,
} from './loop.ts';
export type { PreviewOutcome, PreviewProvision, PreviewSetup, PreviewTest } from './previews.ts';
export { MAX_ANSWER_BYTES, probeInstance, type UnixResponse, unixRequest } from './probe.ts';
export { type RouteLease, type RouteListener, RouteTable, type RouteTarget } from './routes.ts';
export { Cgroups } from './runtimes/cgroups.ts';
export { CONFINED_NODE_MAJOR, packagedNode, whichSync } from './runtimes/confined.ts';
export { DockerRuntime, type DockerRuntimeOptions, LABELS } from './runtimes/docker.ts';
export { baseImageTag, ensureBaseImage, IMAGE_PATHS } from './runtimes/docker-image.ts';
export { ownerOf } from './runtimes/health.ts';
export type { JobLimits, JobOptions, JobResult } from './runtimes/job.ts';
export { DEFAULT_LOG_BOUNDS, type LogBounds, logDiskBound } from './runtimes/logs.ts';
export { ownedTempDir, sweepOwnedTempDirs } from './runtimes/owned-temp.ts';
export { ProcessRuntime, type ProcessRuntimeOptions } from './runtimes/process.ts';
export { DEFAULT_DISK_MB, isMountPoint } from './runtimes/quota.ts';
export { SwarmRuntime, type SwarmRuntimeOptions } from './runtimes/swarm.ts';
export {
  DEFAULT_PIDS,
  type ExitInfo,
  type Instance,
  type InstanceLine,
  type Limits,
  type LineSink,
  type Runtime,
  type StartOptions,
} from './runtimes/types.ts';
export {
  DEFAULT_UID_RANGE,
  MemoryUidPool,
  PrismaUidPool,
  parseUidRange,
  type UidPool,
  type UidRange,
  UidRangeExhaustedError,
} from './runtimes/uids.ts';
export { isPreviewTarget, parsePreviewName, previewName, type Target, type TargetKind } from './targets.ts';
export { type BuiltView, buildView, buildViews } from './views.ts';
