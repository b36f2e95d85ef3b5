import { z } from 'zod';
import { type StaticBuild, staticTemplate } from './define.ts';

const pure = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

/** `echo`: two pure tools, the smallest useful server. */
export const echoTemplate = staticTemplate({
  name: 'echo',
  title: 'Echo',
  description: 'Two pure tools (echo, add): the smallest server to start from.',
  options: z.strictObject({}),
  build: (): StaticBuild => ({
    description: 'Echoes text back and adds numbers: a minimal MCP server to start from.',
    tools: [
      {
        name: 'echo',
        title: 'Echo',
        description: 'Returns the given text unchanged.',
        inputSchema: {
          type: 'object',
          properties: { text: { type: 'string', description: 'The text to send back.' } },
          required: ['text'],
        },
        annotations: pure,
      },
      {
        name: 'add',
        title: 'Add',
        description: 'Adds two numbers and returns the sum as text.',
        inputSchema: {
          type: 'object',
          properties: {
            a: { type: 'number', description: 'First addend.' },
            b: { type: 'number', description: 'Second addend.' },
          },
          required: ['a', 'b'],
        },
        annotations: pure,
      },
    ],
  }),
});
