import { UnknownTemplateError } from '../errors.ts';
import { render } from '../render.ts';
import { echoTemplate } from './echo.ts';
import { httpJsonTemplate } from './http-json.ts';
import type { Template } from './types.ts';

export type { HttpJsonOptions } from './http-json.ts';
export type { Template } from './types.ts';

/** Every template by name. */
export const templates: Record<string, Template> = {
  [echoTemplate.name]: echoTemplate,
  [httpJsonTemplate.name]: httpJsonTemplate,
};

/** Renders a template (a Template or its name) into repository files; throws UnknownTemplateError for an unknown name. */
export function renderTemplate(
  template: Template | string,
  serverName: string,
  options?: Record<string, unknown>,
): Record<string, string> {
  const found =
    typeof template !== 'string' ? template : Object.hasOwn(templates, template) ? templates[template] : undefined;
  if (found === undefined) throw new UnknownTemplateError(String(template), Object.keys(templates));
  return render(found.spec(serverName, options));
}
