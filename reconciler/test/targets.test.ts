import { describe, expect, it } from 'vitest';
import { isPreviewTarget, parsePreviewName, previewName } from '../src/targets.ts';

describe('preview names', () => {
  it('round-trips a server and change number through its route name', () => {
    expect(previewName('demo', 7)).toBe('demo--pr-7');
    expect(parsePreviewName(previewName('my-server', 12))).toEqual({ server: 'my-server', number: 12 });
  });

  it('never reads a server name, or a preview of an invalid server, as a preview', () => {
    for (const name of ['demo', 'my-server', 'demo--pr-0', 'demo--pr-', 'a--b--pr-1', 'ab--pr-1', 'Demo--pr-1']) {
      expect(isPreviewTarget(name), name).toBe(false);
    }
  });
});
