import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import type { UiResource } from '@bmms/runner-template';
import { build, type Message } from 'esbuild';
import { ViewBuildError } from './errors.ts';
import { NODE_PATHS, platformResolution } from './resolution.ts';

/**
 * MCP Apps views: each `ui://` resource of mcp.json names an HTML file under `ui/`; its local scripts (TypeScript,
 * bundled with their imports) and stylesheets are inlined, so the view is one self-contained file the runtime
 * serves from `resources/read`. The bundler injects the views into the server bundle; the manifest check builds
 * them too, so a view that does not build fails before it is merged.
 */

/** One built view: its HTML and what went into it. */
export interface BuiltView {
  uri: string;
  source: string;
  html: string;
  /** Size of the HTML in bytes (UTF-8). */
  bytes: number;
  /** Repo-relative files inlined into it: each script with the repo files it imports, each stylesheet. */
  inlined: string[];
  /** `src`/`href` of scripts and stylesheets left as they are: remote ones (the manifest check judges them). */
  remote: string[];
}

const SCRIPT = /<script\b([^>]*)\bsrc\s*=\s*["']([^"']+)["']([^>]*)>\s*<\/script\s*>/gi;
const STYLESHEET = /<link\b(?=[^>]*\brel\s*=\s*["']?stylesheet["']?)[^>]*\bhref\s*=\s*["']([^"']+)["'][^>]*>/gi;
const REMOTE = /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i;

/** Text that cannot end the element it is inlined into (`</script>`, `</style>`). */
function inlineSafe(text: string, tag: 'script' | 'style'): string {
  return text.replace(new RegExp(`</(${tag})`, 'gi'), '<\\/$1');
}

/** The repo-relative path a view's `src`/`href` points at, refusing anything outside the repo. */
function localPath(sourceDir: string, htmlFile: string, ref: string): string {
  const full = resolve(dirname(join(sourceDir, htmlFile)), ref.split(/[?#]/)[0] ?? ref);
  const rel = relative(sourceDir, full);
  if (rel.startsWith('..') || rel === '') throw new ViewBuildError([`${htmlFile}: "${ref}" points outside the repo`]);
  return rel.split('\\').join('/');
}

function formatMessage(sourceDir: string, message: Message): string {
  const loc = message.location;
  if (!loc) return message.text;
  const file = loc.file.startsWith('/') ? relative(sourceDir, loc.file) : loc.file;
  return `${file}:${loc.line}: ${message.text}`;
}

/**
 * Bundles one view script for the browser (minified, imports from the platform's packages): its code and the
 * repo files that went into it (the entry and what it imports relatively).
 */
async function bundleScript(sourceDir: string, file: string): Promise<{ code: string; files: string[] }> {
  try {
    const out = await build({
      absWorkingDir: sourceDir,
      entryPoints: [join(sourceDir, file)],
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      minify: true,
      legalComments: 'none',
      nodePaths: NODE_PATHS,
      plugins: [platformResolution(sourceDir, false)],
      metafile: true,
      logLevel: 'silent',
    });
    const files = Object.keys(out.metafile.inputs)
      .map((input) => relative(sourceDir, resolve(sourceDir, input)).split('\\').join('/'))
      .filter((input) => !input.startsWith('..') && !input.split('/').includes('node_modules'));
    return { code: out.outputFiles[0]?.text ?? '', files };
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors;
    if (Array.isArray(errors))
      throw new ViewBuildError(
        errors.map((m) => formatMessage(sourceDir, m)),
        { cause: err },
      );
    throw err;
  }
}

async function readSource(sourceDir: string, file: string, from: string): Promise<string> {
  try {
    return await readFile(join(sourceDir, file), 'utf8');
  } catch {
    throw new ViewBuildError([`${from}: ${file} is missing`]);
  }
}

/** Builds one view from the tree at `sourceDir` into a single HTML file. */
export async function buildView(sourceDir: string, resource: Pick<UiResource, 'uri' | 'source'>): Promise<BuiltView> {
  const htmlFile = resource.source;
  let html = await readSource(sourceDir, htmlFile, `${resource.uri}`);
  const inlined: string[] = [];
  const remote: string[] = [];
  const scripts = [...html.matchAll(SCRIPT)];
  const sheets = [...html.matchAll(STYLESHEET)];
  const replacements = new Map<string, string>();
  for (const m of scripts) {
    const ref = m[2] as string;
    if (REMOTE.test(ref)) {
      remote.push(ref);
      continue;
    }
    const file = localPath(sourceDir, htmlFile, ref);
    const { code, files } = await bundleScript(sourceDir, file);
    inlined.push(file, ...files.filter((f) => f !== file && !inlined.includes(f)));
    replacements.set(m[0], `<script type="module">${inlineSafe(code, 'script')}</script>`);
  }
  for (const m of sheets) {
    const ref = m[1] as string;
    if (REMOTE.test(ref)) {
      remote.push(ref);
      continue;
    }
    const file = localPath(sourceDir, htmlFile, ref);
    inlined.push(file);
    const css = await readSource(sourceDir, file, htmlFile);
    replacements.set(m[0], `<style>${inlineSafe(css, 'style')}</style>`);
  }
  for (const [from, to] of replacements) html = html.split(from).join(to);
  return { uri: resource.uri, source: htmlFile, html, bytes: Buffer.byteLength(html), inlined, remote };
}

/** Builds every view of a manifest's resources; throws ViewBuildError listing what failed. */
export async function buildViews(
  sourceDir: string,
  resources: readonly Pick<UiResource, 'uri' | 'source'>[],
): Promise<BuiltView[]> {
  const built: BuiltView[] = [];
  const problems: string[] = [];
  for (const resource of resources) {
    try {
      built.push(await buildView(sourceDir, resource));
    } catch (err) {
      if (!(err instanceof ViewBuildError)) throw err;
      problems.push(...err.lines);
    }
  }
  if (problems.length > 0) throw new ViewBuildError(problems);
  return built;
}
