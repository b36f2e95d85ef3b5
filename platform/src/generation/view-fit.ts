import {
  type FieldChoices,
  fieldProblems,
  PATTERN_TITLES,
  type ToolSpec,
  type ViewFields,
  type ViewPattern,
} from '@bmms/runner-template';
import { z } from 'zod';
import type { ToolCall } from './model.ts';

/**
 * Fitting a view pattern to a tool's output schema with the model: which list holds the records and which of their
 * fields are the label, date, status and number the pattern shows, and a title. The answer may only name what the
 * schema declares (checked, and sent back to the model when it does not), so what the model adapts is the view's
 * config, never code: the pattern's scripts stay the reviewed ones.
 */

/** The system prompt of a view fit. */
export const FIT_VIEW_SYSTEM = `You fit an interface pattern to the output of an MCP tool. The view renders the tool's structuredContent, which the tool's output schema describes.
From the names the schema declares, and only those, choose: the list that holds the records (null when the result is one record), and which field of a record is its label (what a person reads first), its date, its status (the values a kanban groups by) and its number (what a chart draws or a dashboard totals). Use null for a role no field fits. Prefer fields a person reads over identifiers.
Give the view a short title for the people who use it, under 60 characters, without the word "view". Call the fit_view tool.`;

const role = z.string().min(1).nullable();

/** The fit the model answers with. */
export const viewFitSchema = z.strictObject({
  title: z.string().trim().min(1).max(80),
  list: role,
  label: role,
  date: role,
  status: role,
  number: role,
});
export type ViewFit = z.output<typeof viewFitSchema>;

const nullableName = (description: string) => ({ type: ['string', 'null'], description });

/**
 * The fit_view tool for one output schema: every name it answers must be one the schema declares, and `feeds` finds
 * nothing wrong with it (the other tools of the view must declare the fields it reads).
 */
export function fitViewTool(
  choices: FieldChoices,
  feeds: (fields: ViewFields) => string[] = () => [],
): ToolCall<ViewFit> {
  return {
    name: 'fit_view',
    description: "Submit the view's title and the fields of the output schema it shows.",
    inputSchema: {
      type: 'object',
      required: ['title', 'list', 'label', 'date', 'status', 'number'],
      properties: {
        title: { type: 'string', description: 'Short title for the people using the view' },
        list: { ...nullableName('Top-level list holding the records'), enum: [...choices.lists, null] },
        label: nullableName("A record's label: the field a person reads first"),
        date: nullableName("A record's date or time"),
        status: nullableName("A record's status, state or stage: what a kanban groups by"),
        number: nullableName("A record's figure: what a chart draws and a dashboard totals"),
      },
    },
    schema: viewFitSchema,
    check: ({ title: _title, ...fields }) => {
      const problems = fieldProblems(fields, choices);
      return problems.length > 0 ? problems : feeds(fields);
    },
  };
}

/**
 * The user message of a fit: the pattern, the tool, its output schema and the guess from names and types; and the
 * output schemas of the other tools feeding the view, which must declare the fields chosen.
 */
export function fitViewRequest(
  pattern: ViewPattern,
  tool: ToolSpec,
  guess: ViewFields,
  others: readonly ToolSpec[] = [],
): string {
  const alsoFed = others.flatMap((other) => [
    '',
    `The view also shows the results of ${other.name}, whose records must have the fields you choose, with the same types. Its output schema:`,
    '```json',
    JSON.stringify(other.outputSchema ?? null),
    '```',
  ]);
  return [
    `Pattern: ${PATTERN_TITLES[pattern]}.`,
    `Tool: ${tool.name}${tool.title ? ` (${tool.title})` : ''}. ${tool.description}`,
    '',
    'Output schema:',
    '```json',
    JSON.stringify(tool.outputSchema, null, 2),
    '```',
    '',
    `A first guess from the names and types alone: ${JSON.stringify(guess)}`,
    ...alsoFed,
  ].join('\n');
}
