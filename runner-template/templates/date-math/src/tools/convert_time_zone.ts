import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { checkTimeZone, wallClock } from '../dates.ts';

// An instant must say where it is: Z or an offset, so "09:00" is never guessed.
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/;

export default defineTool({
  name: 'convert_time_zone',
  input: { instant: z.string(), timeZones: z.array(z.string().min(1)).min(1).max(20) },
  handler({ instant, timeZones }) {
    const at = new Date(instant);
    if (!INSTANT.test(instant) || Number.isNaN(at.getTime())) {
      throw new Error(`"${instant}" is not an ISO 8601 instant with Z or an offset, e.g. 2026-03-14T09:30:00Z`);
    }
    for (const zone of timeZones) checkTimeZone(zone);
    return {
      utc: at.toISOString(),
      local: timeZones.map((timeZone) => ({ timeZone, ...wallClock(at, timeZone) })),
    };
  },
});
