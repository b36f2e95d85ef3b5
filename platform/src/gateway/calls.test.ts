import { describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.ts';
import { AnswerMeter, CallObservers, type CallRecord, ClientNames, describeRequest, mentionsError } from './calls.ts';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('AnswerMeter', () => {
  it('counts every byte sent and reads a JSON-RPC error code from a JSON answer split in chunks', () => {
    const meter = new AnswerMeter();
    const body = json({ jsonrpc: '2.0', id: 1, error: { code: -32602, message: 'Invalid params' } });
    meter.observe(body.subarray(0, 10));
    meter.observe(body.subarray(10));
    expect(meter.bytes).toBe(body.length);
    expect(meter.outcome('application/json')).toEqual({ rpcErrorCode: -32602, isError: true });
  });

  it('reads a tool error (isError) from an SSE answer, and a plain result as no error', () => {
    const failed = new AnswerMeter();
    const result = { jsonrpc: '2.0', id: 2, result: { content: [], isError: true } };
    failed.observe(Buffer.from(`event: message\ndata: ${JSON.stringify(result)}\n\n`));
    expect(failed.outcome('text/event-stream')).toEqual({ rpcErrorCode: undefined, isError: true });
    const ok = new AnswerMeter();
    ok.observe(json({ jsonrpc: '2.0', id: 3, result: { content: [{ type: 'text', text: 'x' }] } }));
    expect(ok.outcome('application/json; charset=utf-8')).toEqual({ rpcErrorCode: undefined, isError: false });
  });

  it('says nothing of an empty, unparsable or over-long answer, but still counts its bytes', () => {
    expect(new AnswerMeter().outcome('application/json')).toEqual({ rpcErrorCode: undefined, isError: false });
    const garbage = new AnswerMeter();
    garbage.observe(Buffer.from('not json'));
    expect(garbage.outcome('application/json')).toEqual({ rpcErrorCode: undefined, isError: false });
    const big = new AnswerMeter();
    const chunk = Buffer.alloc(40 * 1024, 0x20);
    big.observe(chunk);
    big.observe(chunk);
    big.observe(chunk);
    expect(big.bytes).toBe(3 * chunk.length);
    expect(big.outcome('application/json')).toEqual({ rpcErrorCode: undefined, isError: false });
  });
});

describe('mentionsError', () => {
  it('finds "error" or "isError" as a JSON key at any place of a small or a large answer, and nothing else', () => {
    for (const pad of [0, 5000]) {
      const filler = 'x'.repeat(pad);
      expect(mentionsError(json({ filler, error: { code: 1 } }))).toBe(true);
      expect(mentionsError(json({ filler, result: { isError: true } }))).toBe(true);
      expect(mentionsError(json({ filler, result: { content: [{ type: 'text', text: 'no errors' }] } }))).toBe(false);
      expect(mentionsError(json({ filler, errors: 1, isErrorish: 2 }))).toBe(false);
    }
    expect(mentionsError(Buffer.from('"error'))).toBe(false);
    expect(mentionsError(Buffer.from('"error"'))).toBe(true);
    expect(mentionsError(Buffer.alloc(0))).toBe(false);
  });
});

describe('describeRequest', () => {
  it('names the method and tool of a tools/call, the client of an initialize, and the first of a batch', () => {
    expect(
      describeRequest({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'add', arguments: {} } }),
    ).toEqual({
      method: 'tools/call',
      tool: 'add',
      clientName: undefined,
    });
    expect(describeRequest({ method: 'initialize', params: { clientInfo: { name: 'Claude', version: '1' } } })).toEqual(
      { method: 'initialize', tool: undefined, clientName: 'Claude' },
    );
    expect(describeRequest([{ method: 'tools/list' }, { method: 'tools/call', params: { name: 'x' } }])).toEqual({
      method: 'tools/list',
      tool: undefined,
      clientName: undefined,
    });
  });

  it('never reads arguments, ignores wrong types and cuts long names', () => {
    const described = describeRequest({
      method: 'tools/call',
      params: { name: 'a'.repeat(500), arguments: { secret: 'x' } },
    });
    expect(described.tool).toHaveLength(200);
    expect(JSON.stringify(described)).not.toContain('secret');
    expect(describeRequest({ method: 42, params: { name: 'add' } })).toEqual({
      method: undefined,
      tool: undefined,
      clientName: undefined,
    });
    expect(describeRequest({ method: 'resources/read', params: { name: 'add' } }).tool).toBeUndefined();
    expect(describeRequest(undefined)).toEqual({ method: undefined, tool: undefined, clientName: undefined });
    expect(describeRequest('text')).toEqual({ method: undefined, tool: undefined, clientName: undefined });
  });
});

describe('ClientNames', () => {
  it('remembers names per key and forgets the least recently remembered past its bound', () => {
    const names = new ClientNames(2);
    names.remember('a', 'Claude');
    names.remember('b', 'Cursor');
    names.remember('a', 'Claude 2');
    names.remember('c', 'ChatGPT');
    expect(names.get('a')).toBe('Claude 2');
    expect(names.get('b')).toBeUndefined();
    expect(names.get('c')).toBe('ChatGPT');
  });
});

describe('CallObservers', () => {
  it('tells every observer, survives one that throws, and stops telling a removed one', () => {
    const observers = new CallObservers(silentLogger);
    expect(observers.active).toBe(false);
    const seen: string[] = [];
    observers.add(() => {
      throw new Error('broken observer');
    });
    const remove = observers.add((call) => seen.push(call.requestId));
    expect(observers.active).toBe(true);
    const call = { requestId: 'r1' } as CallRecord;
    observers.emit(call);
    remove();
    observers.emit({ ...call, requestId: 'r2' });
    expect(seen).toEqual(['r1']);
  });
});
