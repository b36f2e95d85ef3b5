import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import csvToJson from '../src/tools/csv_to_json.ts';
import jsonToCsv from '../src/tools/json_to_csv.ts';
import transformRecords from '../src/tools/transform_records.ts';
import { call } from './fake-ctx.ts';

const CSV = 'name,city,age\r\n"Smith, Ann",Paris,41\r\nBob,"Said ""hi""",\r\n';

describe('csv_to_json', () => {
  it('parses quoted fields, escaped quotes and typed values', async () => {
    assert.deepEqual(await call(csvToJson, { csv: CSV }), {
      columns: ['name', 'city', 'age'],
      records: [
        { name: 'Smith, Ann', city: 'Paris', age: 41 },
        { name: 'Bob', city: 'Said "hi"', age: null },
      ],
    });
  });

  it('keeps text when asked, and reads other delimiters and headerless input', async () => {
    assert.deepEqual(await call(csvToJson, { csv: 'a;b\n1;x\n', delimiter: ';', header: false, inferTypes: false }), {
      rows: [
        ['a', 'b'],
        ['1', 'x'],
      ],
    });
  });

  it('reports ragged rows, duplicate columns and unterminated quotes', async () => {
    await assert.rejects(call(csvToJson, { csv: 'a,b\n1\n' }), /row 2 has 1 fields but the header has 2/);
    await assert.rejects(call(csvToJson, { csv: 'a,a\n1,2\n' }), /column "a" twice/);
    await assert.rejects(call(csvToJson, { csv: 'a\n"open\n' }), /closing " is missing/);
  });

  it('treats a __proto__ column as plain data', async () => {
    const out = (await call(csvToJson, { csv: '__proto__,x\n1,2\n' })) as { records: Record<string, unknown>[] };
    assert.equal(Object.getPrototypeOf(out.records[0]), Object.prototype);
    assert.equal(Object.keys(out.records[0] ?? {}).length, 2);
  });
});

describe('json_to_csv', () => {
  it('writes a header and quotes what needs quoting; the CSV parses back', async () => {
    const csv = String(
      await call(jsonToCsv, {
        records: [
          { name: 'Smith, Ann', note: 'Said "hi"' },
          { name: 'Bob', tags: ['a', 'b'] },
        ],
      }),
    );
    assert.equal(csv, 'name,note,tags\r\n"Smith, Ann","Said ""hi""",\r\nBob,,"[""a"",""b""]"\r\n');
    const back = (await call(csvToJson, { csv })) as { records: Record<string, unknown>[] };
    assert.equal(back.records[0]?.note, 'Said "hi"');
  });

  it('uses the given columns in order', async () => {
    assert.equal(
      await call(jsonToCsv, { records: [{ a: 1, b: 2 }], columns: ['b', 'a'], delimiter: ';' }),
      'b;a\r\n2;1\r\n',
    );
  });
});

describe('transform_records', () => {
  const records = [
    { name: 'Ann', age: 41, city: 'Paris' },
    { name: 'Bob', age: 17, city: 'Lyon' },
    { name: 'Cy', age: 30, city: 'Paris' },
  ];

  it('filters, sorts, limits, selects and renames', async () => {
    const result = await call(transformRecords, {
      records,
      where: [
        { field: 'city', op: 'eq', value: 'Paris' },
        { field: 'age', op: 'gte', value: 18 },
      ],
      sortBy: 'age',
      select: ['name', 'age'],
      rename: { name: 'who' },
      limit: 5,
    });
    assert.deepEqual(result, {
      count: 2,
      records: [
        { who: 'Cy', age: 30 },
        { who: 'Ann', age: 41 },
      ],
    });
  });

  it('matches text case-insensitively with contains and sorts descending', async () => {
    const result = (await call(transformRecords, {
      records,
      where: [{ field: 'name', op: 'contains', value: 'b' }],
      descending: true,
      sortBy: 'age',
    })) as { records: { name: string }[] };
    assert.deepEqual(
      result.records.map((r) => r.name),
      ['Bob'],
    );
  });
});
