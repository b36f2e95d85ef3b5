import { defineTool } from '@bmms/runner-template/runtime';
import { config } from '../config.ts';

export default defineTool({
  name: 'list_feeds',
  input: {},
  handler: () => ({ feeds: config.feeds }),
});
