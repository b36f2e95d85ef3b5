import { createHash } from 'node:crypto';
import type { Prisma, PrismaClient } from '@bmms/prisma';
import type { Adapter, AdapterPayload } from 'oidc-provider';

/** SHA-256 (hex) of `model:value`: how record ids, grant ids, uids and user codes are keyed at rest. */
export function payloadKey(model: string, value: string): string {
  return createHash('sha256').update(`${model}:${value}`).digest('hex');
}

const grantKey = (grantId: string) => payloadKey('grant', grantId);

/**
 * oidc-provider's storage in Postgres/PGlite through Prisma. Rows are keyed by a hash of the record id,
 * and the id (`jti`) is stripped from the stored payload: a database dump holds no usable refresh token,
 * authorization code or session id. `revokeByGrantId` removes every record of a grant (and the grant).
 */
export class PrismaAdapter implements Adapter {
  readonly #db: PrismaClient;
  readonly #model: string;
  readonly #onGrantRevoked: (() => Promise<void>) | undefined;

  /** `onGrantRevoked` runs after a grant (or every record of one) was removed: caches of grants forget it. */
  constructor(model: string, db: PrismaClient, onGrantRevoked?: () => Promise<void>) {
    this.#model = model;
    this.#db = db;
    this.#onGrantRevoked = onGrantRevoked;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const { jti: _jti, ...stored } = payload;
    const row = {
      model: this.#model,
      payload: stored as Prisma.InputJsonValue,
      // A grant is one of its own records, so revoking by grant id removes it too.
      grantId: this.#model === 'Grant' ? grantKey(id) : payload.grantId ? grantKey(payload.grantId) : null,
      uid: payload.uid ? payloadKey('uid', payload.uid) : null,
      userCode: payload.userCode ? payloadKey('userCode', payload.userCode) : null,
      accountId: payload.accountId ?? null,
      clientId: payload.clientId ?? (this.#model === 'Client' ? id : null),
      expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
    };
    const key = payloadKey(this.#model, id);
    await this.#db.oauthPayload.upsert({ where: { id: key }, create: { id: key, ...row }, update: row });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const row = await this.#db.oauthPayload.findUnique({ where: { id: payloadKey(this.#model, id) } });
    return this.#revive(row, id);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const row = await this.#db.oauthPayload.findFirst({
      where: { model: this.#model, uid: payloadKey('uid', uid) },
    });
    return this.#revive(row, undefined);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const row = await this.#db.oauthPayload.findFirst({
      where: { model: this.#model, userCode: payloadKey('userCode', userCode) },
    });
    return this.#revive(row, undefined);
  }

  async consume(id: string): Promise<void> {
    const key = payloadKey(this.#model, id);
    const row = await this.#db.oauthPayload.findUnique({ where: { id: key } });
    if (!row) return;
    const consumed = Math.floor(Date.now() / 1000);
    await this.#db.oauthPayload.update({
      where: { id: key },
      data: {
        consumedAt: new Date(consumed * 1000),
        payload: { ...(row.payload as Prisma.JsonObject), consumed } as Prisma.InputJsonValue,
      },
    });
  }

  async destroy(id: string): Promise<void> {
    await this.#db.oauthPayload.deleteMany({ where: { id: payloadKey(this.#model, id) } });
    if (this.#model === 'Grant') await this.#onGrantRevoked?.();
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.#db.oauthPayload.deleteMany({ where: { grantId: grantKey(grantId) } });
    await this.#onGrantRevoked?.();
  }

  #revive(
    row: { payload: Prisma.JsonValue; expiresAt: Date | null } | null,
    id: string | undefined,
  ): AdapterPayload | undefined {
    if (!row) return undefined;
    if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) return undefined;
    const payload = row.payload as AdapterPayload;
    // Records found by uid or user code carry their own id elsewhere (Session: `jti` is needed).
    return id === undefined ? payload : { ...payload, jti: id };
  }
}

/** Removes expired records (called periodically). */
export async function sweepExpiredPayloads(db: PrismaClient): Promise<number> {
  const { count } = await db.oauthPayload.deleteMany({ where: { expiresAt: { lt: new Date() } } });
  return count;
}
