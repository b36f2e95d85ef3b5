import { describe, expect, it } from 'vitest';
import { basicPassword, bearerToken } from '../src/accounts/principal.ts';
import { can } from '../src/accounts/roles.ts';
import { Limiter } from '../src/checks/limiter.ts';
import { parseDiagnostics } from '../src/checks/typecheck.ts';
import { loadConfig } from '../src/config.ts';
import { isValidBranch, isValidServerName } from '../src/services/names.ts';

describe('tsc diagnostics', () => {
  it('become file:line: code message lines', () => {
    const out = [
      "src/broken.ts(1,14): error TS2322: Type 'string' is not assignable to type 'number'.",
      "src/tools/a.ts(12,3): error TS2304: Cannot find name 'x'.",
      'error TS5083: Cannot read file tsconfig.json.',
      'Found 2 errors.',
    ].join('\n');
    expect(parseDiagnostics(out)).toEqual([
      "src/broken.ts:1: TS2322 Type 'string' is not assignable to type 'number'.",
      "src/tools/a.ts:12: TS2304 Cannot find name 'x'.",
      'error TS5083: Cannot read file tsconfig.json.',
    ]);
  });
});

describe('names', () => {
  it('accepts DNS-label server names only', () => {
    for (const ok of ['demo', 'a1b', 'my-server', `a${'b'.repeat(38)}c`]) expect(isValidServerName(ok), ok).toBe(true);
    for (const bad of [
      'ab',
      'Demo',
      'de_mo',
      'my--server',
      '-demo',
      'demo-',
      '1demo',
      `a${'b'.repeat(39)}c`,
      42,
      undefined,
    ]) {
      expect(isValidServerName(bad), String(bad)).toBe(false);
    }
  });

  it('accepts pushed branch names but never main', () => {
    for (const ok of ['add-tool', 'feature/x', 'bmms/init']) expect(isValidBranch(ok), ok).toBe(true);
    for (const bad of ['main', '', 'a..b', 'refs/heads/x', '-x', 'x.lock', 'a b', 'x\u0001', 7]) {
      expect(isValidBranch(bad), String(bad)).toBe(false);
    }
  });
});

describe('configuration', () => {
  it('has embedded defaults and resolves the data dir', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 8080, host: '127.0.0.1', databaseUrl: undefined, insecureNoSandbox: false });
    expect(c.dataDir).toMatch(/\/\.data$/);
    expect(c.rollbackWindowMs).toBe(300_000);
  });

  it('reads the instance bounds: uid range, disk quota and log limits', () => {
    const c = loadConfig({
      BMMS_INSTANCE_UID_RANGE: '300000-300999',
      BMMS_INSTANCE_DISK_MB: '32',
      BMMS_INSTANCE_LOG_LINES_PER_SECOND: '50',
      BMMS_INSTANCE_LOG_FILE_BYTES: '1048576',
      BMMS_INSTANCE_LOG_FILES: '0',
    });
    expect(c.instanceUids).toEqual({ first: 300_000, last: 300_999 });
    expect(c.instanceDiskMb).toBe(32);
    expect(c.instanceLogs).toEqual({ linesPerSecond: 50, fileBytes: 1_048_576, rotatedFiles: 0 });
    expect(loadConfig({}).instanceLogs).toEqual({});
    expect(() => loadConfig({ BMMS_INSTANCE_UID_RANGE: '0-10' })).toThrow(/BMMS_INSTANCE_UID_RANGE: uid range "0-10"/);
    expect(() => loadConfig({ BMMS_INSTANCE_UID_RANGE: 'nobody' })).toThrow(/BMMS_INSTANCE_UID_RANGE/);
  });

  it('reads the gateway fair-share threshold and refuses one outside (0, 1]', () => {
    expect(loadConfig({}).fairShareUtilization).toBe(0.85);
    expect(loadConfig({ BMMS_FAIR_SHARE_UTILIZATION: '0.6' }).fairShareUtilization).toBe(0.6);
    expect(loadConfig({ BMMS_FAIR_SHARE_UTILIZATION: '1' }).fairShareUtilization).toBe(1);
    expect(() => loadConfig({ BMMS_FAIR_SHARE_UTILIZATION: '0' })).toThrow(/BMMS_FAIR_SHARE_UTILIZATION/);
    expect(() => loadConfig({ BMMS_FAIR_SHARE_UTILIZATION: '85%' })).toThrow(/BMMS_FAIR_SHARE_UTILIZATION/);
  });

  it('names every bad variable', () => {
    expect(() => loadConfig({ PORT: 'eighty', DATABASE_URL: 'nope' })).toThrow(
      /PORT[\s\S]*DATABASE_URL|DATABASE_URL[\s\S]*PORT/,
    );
  });
});

describe('credentials in headers', () => {
  it('reads bearer tokens and the password of basic auth', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(basicPassword(`Basic ${Buffer.from('x:bmms_key:with:colons').toString('base64')}`)).toBe(
      'bmms_key:with:colons',
    );
    expect(basicPassword(undefined)).toBeUndefined();
  });
});

describe('roles', () => {
  it('lets maintainers push main and viewers only read', () => {
    expect(can('owner', 'push_main')).toBe(true);
    expect(can('developer', 'push_main')).toBe(false);
    expect(can('developer', 'write')).toBe(true);
    expect(can('viewer', 'write')).toBe(false);
    expect(can('stranger', 'read')).toBe(false);
  });
});

describe('Limiter', () => {
  it('never runs more than its limit at once', async () => {
    const limiter = new Limiter(2);
    let active = 0;
    let peak = 0;
    const task = async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 10));
      active--;
    };
    await Promise.all(Array.from({ length: 7 }, () => limiter.run(task)));
    expect(peak).toBe(2);
  });
});
