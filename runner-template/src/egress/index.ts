export {
  type AddressClass,
  addressClassifier,
  classifyAddress,
  isPublicAddress,
  parseTestPublicRanges,
  TestPublicRangeError,
} from './addresses.ts';
export {
  DEFAULT_PORTS,
  type EgressEntry,
  type EgressEntryProblem,
  type EgressRefusal,
  egressRefusal,
  hostMatches,
  type ParsedEgressEntry,
  parseEgressEntry,
  splitEgressEntry,
  WEB_PORTS,
} from './policy.ts';
