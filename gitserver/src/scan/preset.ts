/**
 * The full credential scan: our own rules (secrets.ts) plus secretlint's recommended preset, a
 * maintained rule set that follows providers' new token formats. Used by the `secrets` check, push
 * protection and the prompt guard. Like scanText, it never returns a raw value: every finding of
 * the preset is re-masked here from its range, and secretlint's own message (which may quote the
 * value) is never read.
 */
import { lintSource } from '@secretlint/core';
import { creator as recommended } from '@secretlint/secretlint-rule-preset-recommend';
import { isReservedHost, looksBinary, mask, type SecretFinding, scanText } from './secrets.ts';

const PRESET_ID = '@secretlint/secretlint-rule-preset-recommend';
const URL_WITH_USER = /([a-z][a-z0-9+.-]*:\/\/)([^\s:/@]{0,16}):[^\s/@]*@([A-Za-z0-9.:[\]-]+)/i;
const CONFIG = { rules: [{ id: PRESET_ID, rule: recommended }] };

/** Every credential in a text, by line, masked: our rules first, then whatever only the preset knows. */
export async function scanSource(path: string, text: string): Promise<SecretFinding[]> {
  const own = scanText(path, text);
  const lines = new Set(own.map((f) => f.line));
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  const result = await lintSource({
    source: { content: text, filePath: `/repo/${path}`, ext: dot > 0 ? name.slice(dot) : '', contentType: 'text' },
    options: { config: CONFIG, maskSecrets: true, noPhysicFilePath: true },
  });
  const extra: SecretFinding[] = [];
  for (const m of result.messages) {
    if (m.type !== 'message' || m.severity === 'info') continue;
    const line = m.loc.start.line;
    if (lines.has(line)) continue; // already named by one of our rules
    const value = text.slice(m.range[0], m.range[1]);
    const url = URL_WITH_USER.exec(value);
    if (url && isReservedHost(url[3] as string)) continue; // a test fixture or a doc example, as in our own rule
    const rule = m.ruleId.replace(/^@secretlint\/secretlint-rule-/, '');
    // A connection string shows its scheme and user, none of its password.
    const masked = url ? `${url[1]}${url[2]}:…@` : mask(value);
    extra.push({ path, line, rule: 'secret-secretlint', kind: `${rule} credential (${m.messageId})`, masked });
  }
  return [...own, ...extra].sort((a, b) => a.line - b.line);
}

/** scanSource on raw file bytes; binary content is skipped (push protection refuses binaries on its own). */
export async function scanFile(path: string, bytes: Uint8Array): Promise<SecretFinding[]> {
  if (looksBinary(bytes)) return [];
  return scanSource(path, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
}
