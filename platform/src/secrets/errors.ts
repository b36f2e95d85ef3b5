import { ApiError } from '../errors.ts';

/** A secret name outside `^[A-Z][A-Z0-9_]{0,63}$`. */
export class InvalidSecretNameError extends ApiError {
  constructor(name: string) {
    super(
      'invalid_secret_name',
      400,
      `"${name.slice(0, 80)}" is not a valid secret name: use 1–64 of A-Z, 0-9 and _, starting with a letter (e.g. API_KEY)`,
    );
    this.name = 'InvalidSecretNameError';
  }
}

/** A value that is not a non-empty string of at most 64 KiB. The value itself is never echoed. */
export class InvalidSecretValueError extends ApiError {
  constructor(reason: string) {
    super('invalid_secret_value', 400, `invalid secret value: ${reason}; send {"value": "<1 byte to 64 KiB>"}`);
    this.name = 'InvalidSecretValueError';
  }
}

/** No secret of that name on that server. */
export class SecretNotFoundError extends ApiError {
  constructor(server: string, name: string) {
    super('secret_not_found', 404, `server "${server}" has no secret "${name}"`);
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
export class UnknownKeyVersionError extends ApiError {
  readonly version: string;
  constructor(version: string, known: string[]) {
    super(
      'unknown_key_version',
      500,
      `a secret is encrypted under master key "${version}", which is not configured (known: ${known.join(', ')}); add it to BMMS_MASTER_KEY`,
    );
    this.name = 'UnknownKeyVersionError';
    this.version = version;
  }
}

/** Authentication of a stored value failed: it was altered, moved to another server/name, or the key is wrong. */
export class SecretTamperedError extends ApiError {
  constructor(name: string) {
    super(
      'secret_tampered',
      500,
      `secret "${name}" failed authentication: its stored ciphertext was altered or does not belong here`,
    );
    this.name = 'SecretTamperedError';
  }
}
