import type { PrismaClient } from '@bmms/prisma';
import type { Response } from 'express';
import { tooManyFollowers } from '../errors.ts';
import { type LogFilter, lastLogId, newestLogs, PAGE, scanAfter } from './query.ts';
import type { LogRecord } from './records.ts';
import { OrgSlots } from './slots.ts';
import type { LogWriter } from './writer.ts';

/** Live log streams one organization may keep open at once. */
export const FOLLOWERS_PER_ORG = 10;
const KEEPALIVE_MS = 15_000;
/** Other platform processes write to the same table: it is read again this often even when this process wrote nothing. */
const POLL_MS = 1000;

/** The live log streams of each organization (429 too_many_followers over FOLLOWERS_PER_ORG). */
export const followerSlots = (): OrgSlots => new OrgSlots(FOLLOWERS_PER_ORG, tooManyFollowers);

/** What a live log stream reads from. */
export interface FollowDeps {
  db: PrismaClient;
  writer: LogWriter;
  slots: OrgSlots;
}

/**
 * Streams a server's log as server-sent events: the newest `limit` matching records (or every one after
 * `resumeAfter`), then new ones as they are written — at once when this process wrote them, within a second
 * when another process did — until the client goes.
 */
export async function followLogs(
  deps: FollowDeps,
  res: Response,
  target: { serverId: string; orgId: string; filter: LogFilter; limit: number; resumeAfter: bigint | undefined },
): Promise<void> {
  const release = deps.slots.take(target.orgId);
  const { db } = deps;
  const { serverId, filter } = target;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  let cursor = 0n;
  let closed = false;
  const send = (records: LogRecord[]) => {
    for (const r of records) {
      res.write(`id: ${r.id}\nevent: log\ndata: ${JSON.stringify(r)}\n\n`);
      cursor = BigInt(r.id);
    }
  };
  let pulling: Promise<void> | undefined;
  let again = false;
  // Live reads wait until the first records are out, so none overtakes them.
  let started = false;
  const pullAll = async () => {
    do {
      again = false;
      for (;;) {
        if (closed || res.writableNeedDrain) return;
        const { records, examined } = await scanAfter(db, serverId, { ...filter, after: cursor });
        if (closed) return;
        send(records);
        // Past what did not match, too: a rare filter does not read the same records again at the next pull.
        if (examined !== undefined && examined > cursor) cursor = examined;
        // Fewer than a page: the end, or as many records examined as one read may; the next pull goes on.
        if (records.length < PAGE) break;
      }
    } while (again);
  };
  const pull = () => {
    if (!started) return;
    if (pulling) {
      again = true;
      return;
    }
    pulling = pullAll()
      .catch(() => {})
      .finally(() => {
        pulling = undefined;
      });
  };
  const unsubscribe = deps.writer.onFlush((ids) => {
    if (ids.has(serverId)) pull();
  });
  const poll = setInterval(pull, POLL_MS);
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  const finish = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    clearInterval(poll);
    clearInterval(keepalive);
    release();
    res.end();
  };
  res.on('close', finish);
  res.on('drain', pull);
  try {
    if (target.resumeAfter !== undefined) {
      cursor = target.resumeAfter;
    } else {
      const newest = await lastLogId(db, serverId);
      send(await newestLogs(db, serverId, filter, target.limit));
      if (newest > cursor) cursor = newest;
    }
    started = true;
    pull();
  } catch {
    finish();
  }
}
