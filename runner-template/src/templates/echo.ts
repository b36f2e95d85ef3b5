import { parseServerSpec } from '../spec.ts';
import type { Template } from './types.ts';

const ECHO_SOURCE = `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

export default defineTool({
  name: 'echo',
  input: { text: z.string() },
  handler: ({ text }) => text,
});
`;

const ADD_SOURCE = `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

export default defineTool({
  name: 'add',
  input: { a: z.number(), b: z.number() },
  handler: ({ a, b }) => String(a + b),
});
`;

const pure = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

/** `echo`: two pure tools, the smallest useful server. */
export const echoTemplate: Template = {
  name: 'echo',
  title: 'Echo',
  description: 'Two pure tools (echo, add): the smallest server to start from.',
  spec(serverName) {
    return parseServerSpec({
      name: serverName,
      version: '0.1.0',
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
          source: ECHO_SOURCE,
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
          source: ADD_SOURCE,
        },
      ],
      secrets: [],
      egress: [],
    });
  },
};
