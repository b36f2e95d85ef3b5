import { ApiError } from '../errors.ts';

// The secret store's failures, as classes (callers and tests tell them apart with instanceof); their codes,
// statuses and messages are entries of the one error table in ../errors.ts.

/** A secret name outside `^[A-Z][A-Z0-9_]{0,63}$`. */
export class InvalidSecretNameError extends ApiError<'invalid_secret_name'> {
  constructor(name: string) {
    super('invalid_secret_name', name);
    this.name = 'InvalidSecretNameError';
  }
}

/** A value that is not a non-empty string of at most 64 KiB. The value itself is never echoed. */
export class InvalidSecretValueError extends ApiError<'invalid_secret_value'> {
  constructor(reason: string) {
    super('invalid_secret_value', reason);
    this.name = 'InvalidSecretValueError';
  }
}

/** No secret of that name on that server. */
export class SecretNotFoundError extends ApiError<'secret_not_found'> {
  constructor(server: string, name: string) {
    super('secret_not_found', server, name);
    this.name = 'SecretNotFoundError';
  }
}

/** BMMS_MASTER_KEY (or the key file) is malformed. */
export class InvalidMasterKeyError extends Error {
  readonly code = 'invalid_master_key';
  constructor(reason: string) {
    super(
      `invalid master key: ${reason}; BMMS_MASTER_KEY is base64 of 32 bytes, or "v2:<base64>,v1:<base64>" with the current key first`,
    );
    this.name = 'InvalidMasterKeyError';
  }
}

/** A stored value was encrypted under a key version the keyring does not hold. */
export class UnknownKeyVersionError extends ApiError<'unknown_key_version'> {
  readonly version: string;
  constructor(version: string, known: string[]) {
    super('unknown_key_version', version, known);
    this.name = 'UnknownKeyVersionError';
    this.version = version;
  }
}

/** Authentication of a stored value failed: it was altered, moved to another server/name, or the key is wrong. */
export class SecretTamperedError extends ApiError<'secret_tampered'> {
  constructor(name: string) {
    super('secret_tampered', name);
    this.name = 'SecretTamperedError';
  }
}
