import { UnknownTemplateError } from '../errors.ts';
import { render } from '../render.ts';
import { csvJsonTemplate } from './csv-json.ts';
import { dataGridTemplate } from './data-grid.ts';
import { dateMathTemplate } from './date-math.ts';
import { echoTemplate } from './echo.ts';
import { githubIssuesTemplate } from './github-issues.ts';
import { httpJsonTemplate } from './http-json.ts';
import { postgresReadonlyTemplate } from './postgres-readonly.ts';
import { rssReaderTemplate } from './rss-reader.ts';
import type { Template } from './types.ts';
import { webPageTemplate } from './web-page.ts';
import { webhookTemplate } from './webhook.ts';

export { TEMPLATE_FILES_ROOT, templateFiles } from './define.ts';
export type { HttpJsonOptions } from './http-json.ts';
export type { Template } from './types.ts';

/** Every template by name. */
export const templates: Record<string, Template> = Object.fromEntries(
  [
    echoTemplate,
    httpJsonTemplate,
    githubIssuesTemplate,
    postgresReadonlyTemplate,
    rssReaderTemplate,
    webPageTemplate,
    dateMathTemplate,
    csvJsonTemplate,
    webhookTemplate,
    dataGridTemplate,
  ].map((t) => [t.name, t]),
);

/** The template named `name`, or undefined (never an inherited property such as "constructor"). */
export function findTemplate(name: string): Template | undefined {
  return Object.hasOwn(templates, name) ? templates[name] : undefined;
}

/**
 * Renders a template (a Template or its name) into repository files; throws UnknownTemplateError for an
 * unknown name and TemplateOptionsError for invalid or unknown options.
 */
export function renderTemplate(
  template: Template | string,
  serverName: string,
  options?: Record<string, unknown>,
): Record<string, string> {
  const found = typeof template !== 'string' ? template : findTemplate(template);
  if (found === undefined) throw new UnknownTemplateError(String(template), Object.keys(templates));
  return render(found.spec(serverName, options), found.extras?.(serverName, options));
}
