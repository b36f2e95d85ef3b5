/**
 * `npm run pack:runtime -w runner-template [-- --out <dir>]`: packs the base runtime as a publishable npm tarball
 * (cached by source hash) and prints its path and integrity; with --out, copies it there too.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packRuntime } from '../src/pack.ts';

const { values } = parseArgs({ options: { out: { type: 'string' } } });
const packed = await packRuntime();
let file = packed.file;
if (values.out) {
  await mkdir(values.out, { recursive: true });
  file = path.resolve(values.out, path.basename(packed.file));
  await copyFile(packed.file, file);
}
process.stdout.write(`${JSON.stringify({ file, integrity: packed.integrity, bytes: packed.bytes.length })}\n`);
