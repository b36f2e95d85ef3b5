/**
 * Writes the security corpus: `node platform/test/corpus/generate.ts` (re)creates
 * platform/test/fixtures/corpus/{hostile,legit}/<name>/ from the definitions beside this file.
 */
import path from 'node:path';
import { writeFixtures } from './define.ts';
import { HOSTILE } from './hostile.ts';
import { LEGIT } from './legit.ts';

export const CORPUS_DIR = path.resolve(import.meta.dirname, '../fixtures/corpus');

if (import.meta.main) {
  await writeFixtures(CORPUS_DIR, 'hostile', HOSTILE);
  await writeFixtures(CORPUS_DIR, 'legit', LEGIT);
  console.log(`wrote ${HOSTILE.length} hostile and ${LEGIT.length} legit servers to ${CORPUS_DIR}`);
}
