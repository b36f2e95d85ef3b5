import { renderTemplate } from '@bmms/runner-template';
import { describe, expect, it } from 'vitest';
import { checkout } from '../../../test/check-helpers.ts';
import { securityCheck } from './index.ts';
import { analyzeViewHtml, analyzeViewScript } from './views.ts';

const rules = (findings: { rule: string; line?: number }[]) => findings.map((f) => `${f.line}:${f.rule}`);

describe('view rules: HTML', () => {
  it('refuses inline handlers, inline scripts, javascript: URLs and scripts from other origins', () => {
    const html = [
      '<!doctype html>',
      '<button onclick="go()">Go</button>',
      '<script>alert(1)</script>',
      '<a href="javascript:go()">x</a>',
      '<script src="https://cdn.example.net/lib.js"></script>',
      '<script type="module" src="./view.ts"></script>',
      '<script type="application/json">{"ok":true}</script>',
    ].join('\n');
    expect(rules(analyzeViewHtml('ui/view.html', html))).toEqual([
      '3:view-inline-script',
      '5:view-remote-script',
      '2:view-inline-handler',
      '4:view-javascript-url',
    ]);
    expect(analyzeViewHtml('ui/view.html', html)[0]?.message).toContain('has an inline <script>: a view');
  });
});

describe('view rules: scripts', () => {
  it('refuses code from strings, HTML from strings and imports other than the bridge and ui/ files', () => {
    const code = [
      "import { connectView } from '@bmms/runner-template/view';",
      "import { rows } from './rows.ts';",
      "import { x } from '../src/config.ts';",
      "import _ from 'lodash';",
      "eval('1');",
      "const f = new Function('return 1');",
      "setTimeout('go()', 10);",
      'setTimeout(() => rows, 10);',
      "document.body.innerHTML = '<b>' + rows + '</b>';",
      "document.body.insertAdjacentHTML('beforeend', rows);",
      "document.write('x');",
      "document.body.textContent = 'fine';",
      'const o = { eval: 1 }; o.eval;',
      'void connectView; void x; void _; void f;',
      "await import('./' + rows);",
      "document.body.innerHTML += '<b>' + rows + '</b>';",
      "const frame = document.createElement('iframe'); frame.srcdoc = rows;",
      "frame.setAttribute('onload', rows); frame.setAttribute(rows, 'x');",
      "frame.setAttribute('title', 'fine'); frame.title ||= 'fine';",
      'Object.assign(frame, { innerHTML: rows }); const srcdoc = rows; Object.assign(frame, { srcdoc });',
      "Reflect.set(frame, 'outerHTML', rows);",
      "(frame as unknown as Record<string, string>)['inner' + ('HT' + 'ML')] = rows;",
      "frame.setAttribute('on' + 'load', rows); const label = 'row ' + 'count';",
    ].join('\n');
    expect(rules(analyzeViewScript('ui/view.ts', code))).toEqual([
      '3:view-import-not-allowlisted',
      '4:view-import-not-allowlisted',
      '5:no-eval',
      '6:no-function-constructor',
      '7:no-eval',
      '9:view-html-sink',
      '10:view-html-sink',
      '11:view-html-sink',
      '15:no-dynamic-import',
      '16:view-html-sink',
      '17:view-html-sink',
      '18:view-html-sink',
      '18:view-html-sink',
      '20:view-html-sink',
      '20:view-html-sink',
      '21:view-html-sink',
      '22:view-html-sink',
      '23:view-html-sink',
      '23:view-html-sink',
    ]);
  });
});

describe('security check over ui/', () => {
  it('passes the data-grid template, counting its view files', async () => {
    const o = await securityCheck.run(await checkout(renderTemplate('data-grid', 'grid-demo')));
    expect(o.findings).toEqual([]);
    expect(o.summary).toMatch(/^security: \d+ file\(s\) under src\/ and 2 view file\(s\) under ui\/ follow the rules/);
  });

  it('fails a view with an inline handler, naming file and line', async () => {
    const files = renderTemplate('data-grid', 'grid-demo');
    files['ui/grid.html'] = (files['ui/grid.html'] ?? '').replace('<main>', '<main onload="steal()">');
    const o = await securityCheck.run(await checkout(files));
    expect(o.conclusion).toBe('failure');
    expect(o.summary).toMatch(/ui\/grid\.html:\d+: \[view-inline-handler\] sets the onload attribute: /);
  });
});
