// The first of two read-only guards: a statement is accepted only if it is one SELECT-like statement
// (SELECT, WITH, VALUES, TABLE, SHOW or EXPLAIN without ANALYZE) that names no data-changing keyword,
// no row lock, no SELECT INTO and no function known to have side effects. Literals, quoted names and
// comments are blanked first, so a keyword inside a string never counts and one hidden in a comment
// never escapes. The second guard is the database's own: every query runs in a READ ONLY transaction.

export type Verdict = { ok: true; sql: string } | { ok: false; reason: string };

const FIRST = new Set(['select', 'with', 'values', 'table', 'show', 'explain']);
const FORBIDDEN = new Set([
  'insert',
  'update',
  'delete',
  'merge',
  'into',
  'create',
  'drop',
  'alter',
  'truncate',
  'grant',
  'revoke',
  'copy',
  'call',
  'lock',
  'vacuum',
  'analyze',
  'analyse',
]);
const SIDE_EFFECT_FUNCTIONS = new Set([
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_switch_wal',
  'pg_promote',
  'pg_notify',
  'pg_sleep',
  'pg_sleep_for',
  'pg_sleep_until',
  'pg_read_file',
  'pg_read_binary_file',
  'pg_ls_dir',
  'pg_stat_file',
  'pg_file_write',
  'pg_logical_emit_message',
  'set_config',
  'nextval',
  'setval',
  'query_to_xml',
  'query_to_xml_and_xmlschema',
  'query_to_xmlschema',
  'cursor_to_xml',
]);
const SIDE_EFFECT_PREFIXES = [
  'pg_advisory',
  'pg_try_advisory',
  'lo_',
  'dblink',
  'pg_create_',
  'pg_drop_',
  'pg_replication_',
];

/** The SQL with comments, string literals and quoted identifiers blanked; throws when one is left open. */
export function blankLiterals(sql: string): string {
  let out = '';
  let i = 0;
  const at = (n: number) => sql.charAt(n);
  while (i < sql.length) {
    const c = at(i);
    if (c === '-' && at(i + 1) === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end;
      out += ' ';
    } else if (c === '/' && at(i + 1) === '*') {
      let depth = 1;
      i += 2;
      while (i < sql.length && depth > 0) {
        if (at(i) === '/' && at(i + 1) === '*') {
          depth++;
          i += 2;
        } else if (at(i) === '*' && at(i + 1) === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      if (depth > 0) throw new Error('a /* comment is not closed');
      out += ' ';
    } else if (c === "'") {
      // E'…' strings take backslash escapes; standard strings only the doubled quote.
      const escapes = /[eE]$/.test(out) && !/[A-Za-z0-9_][eE]$/.test(out);
      i++;
      for (;;) {
        if (i >= sql.length) throw new Error('a string literal is not closed');
        if (escapes && at(i) === '\\') i += 2;
        else if (at(i) === "'" && at(i + 1) === "'") i += 2;
        else if (at(i) === "'") break;
        else i++;
      }
      i++;
      out += "''";
    } else if (c === '"') {
      const end = sql.indexOf('"', i + 1);
      let close = end;
      while (close !== -1 && at(close + 1) === '"') close = sql.indexOf('"', close + 2);
      if (close === -1) throw new Error('a quoted identifier is not closed');
      i = close + 1;
      out += '"_"';
    } else if (c === '$' && /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.test(sql.slice(i)) && !/[A-Za-z0-9_]$/.test(out)) {
      const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i))?.[0] ?? '$$';
      const end = sql.indexOf(tag, i + tag.length);
      if (end === -1) throw new Error(`a ${tag}-quoted string is not closed`);
      i = end + tag.length;
      out += "''";
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Accepts one read-only statement (a trailing ; is dropped) or says why not. */
export function checkReadOnly(sql: string): Verdict {
  let code: string;
  try {
    code = blankLiterals(sql);
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  const trimmed = code.replace(/[\s;]+$/, '');
  if (trimmed.includes(';'))
    return { ok: false, reason: 'only one statement is allowed: remove the ; between statements' };
  const words = (trimmed.match(/[A-Za-z_][A-Za-z0-9_$]*/g) ?? []).map((w) => w.toLowerCase());
  const [first] = words;
  if (first === undefined) return { ok: false, reason: 'the query is empty' };
  if (!FIRST.has(first)) {
    return {
      ok: false,
      reason: `"${first.toUpperCase()}" statements are not allowed: only SELECT, WITH, VALUES, TABLE, SHOW and EXPLAIN`,
    };
  }
  for (const [i, word] of words.entries()) {
    if (FORBIDDEN.has(word))
      return { ok: false, reason: `"${word.toUpperCase()}" is not allowed in a read-only query` };
    if (word === 'for' && ['share', 'no', 'key'].includes(words[i + 1] ?? '')) {
      return { ok: false, reason: 'row locks (FOR SHARE/KEY SHARE/NO KEY UPDATE) are not allowed' };
    }
  }
  for (const m of trimmed.matchAll(/([A-Za-z_][A-Za-z0-9_$]*)\s*\(/g)) {
    const name = (m[1] ?? '').toLowerCase();
    if (SIDE_EFFECT_FUNCTIONS.has(name) || SIDE_EFFECT_PREFIXES.some((p) => name.startsWith(p))) {
      return { ok: false, reason: `${name}() has side effects and is not allowed` };
    }
  }
  return { ok: true, sql: sql.replace(/[\s;]+$/, '') };
}
