import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

export default defineTool({
  name: 'echo',
  input: { text: z.string() },
  handler: ({ text }) => text,
});
