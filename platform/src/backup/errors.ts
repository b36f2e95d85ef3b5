/** A backup file the manifest names is absent: the backup is incomplete. */
export class BackupIncompleteError extends Error {
  readonly code = 'backup_incomplete';
  readonly file: string;
  constructor(backupDir: string, file: string) {
    super(`backup ${backupDir} is incomplete: ${file} is missing; restore from another backup`);
    this.file = file;
  }
}

/** A backup file's SHA-256 or size differs from the manifest: it was changed or damaged. */
export class BackupChecksumError extends Error {
  readonly code = 'backup_checksum_mismatch';
  readonly file: string;
  constructor(backupDir: string, file: string) {
    super(
      `backup ${backupDir} is damaged: ${file} does not match its checksum in manifest.json; restore from another backup`,
    );
    this.file = file;
  }
}

/** The manifest is missing or not one this version understands. */
export class BackupManifestError extends Error {
  readonly code = 'backup_manifest_invalid';
  constructor(backupDir: string, reason: string) {
    super(`${backupDir} is not a usable backup: ${reason}`);
  }
}

/** The backup was written by a platform whose database schema is newer than this one's. */
export class BackupSchemaError extends Error {
  readonly code = 'backup_schema_unsupported';
  constructor(reason: string) {
    super(`this platform cannot restore the backup: ${reason}`);
  }
}

/** Restore only writes into an empty data dir and an empty database, so it never mixes two platforms' data. */
export class RestoreTargetNotEmptyError extends Error {
  readonly code = 'restore_target_not_empty';
  constructor(what: string) {
    super(`refusing to restore: ${what} is not empty; restore into a new data dir (and a new, empty database)`);
  }
}

/** Where a backup should go already holds files. */
export class BackupTargetNotEmptyError extends Error {
  readonly code = 'backup_target_not_empty';
  constructor(dir: string) {
    super(`refusing to write a backup into ${dir}: it is not empty; name a new or empty directory`);
  }
}

/** The embedded database belongs to a running platform, which alone may read it. */
export class PlatformRunningError extends Error {
  readonly code = 'platform_running';
  constructor(dataDir: string) {
    super(
      `a platform is running on ${dataDir} and holds its embedded database: back it up from the running platform with BMMS_BACKUP_DIR (the scheduled backup), or stop it first`,
    );
  }
}
