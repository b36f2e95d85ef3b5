import { fieldChoices, type ToolSpec } from '@bmms/runner-template';
import { describe, expect, it } from 'vitest';
import { fitViewRequest, fitViewTool } from './view-fit.ts';

const tasks = (name: string, properties: Record<string, unknown>): ToolSpec => ({
  name,
  description: `${name}.`,
  inputSchema: { type: 'object', properties: {} },
  outputSchema: { type: 'object', properties: { tasks: { type: 'array', items: { type: 'object', properties } } } },
});

const LIST = tasks('list_tasks', { headline: { type: 'string' }, lane: { type: 'string' } });
const SEARCH = tasks('search_tasks', { headline: { type: 'string' } });
const FIT = { title: 'Tasks', list: 'tasks', label: 'headline', date: null, status: 'lane', number: null };

describe('fitting a view fed by several tools', () => {
  it('shows the model the output schema of every other tool of the view', () => {
    const request = fitViewRequest('kanban', LIST, { ...FIT }, [SEARCH]);
    expect(request).toContain('Tool: list_tasks. list_tasks.');
    expect(request).toContain('The view also shows the results of search_tasks');
    expect(request).toContain(JSON.stringify(SEARCH.outputSchema));
  });

  it("sends back a name the first tool's schema lacks, then a field another tool lacks", () => {
    const feeds = (fields: { status: string | null }) =>
      fields.status === 'lane' ? ['search_tasks: tasks[].lane not declared'] : [];
    const tool = fitViewTool(fieldChoices(LIST.outputSchema), feeds);
    expect(tool.check?.({ ...FIT, label: 'summary' })).toEqual([
      'label: "summary" is not a field of tasks (headline, lane)',
    ]);
    expect(tool.check?.(FIT)).toEqual(['search_tasks: tasks[].lane not declared']);
    expect(tool.check?.({ ...FIT, status: null })).toEqual([]);
  });
});
