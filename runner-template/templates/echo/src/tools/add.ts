import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

export default defineTool({
  name: 'add',
  input: { a: z.number(), b: z.number() },
  handler: ({ a, b }) => String(a + b),
});
