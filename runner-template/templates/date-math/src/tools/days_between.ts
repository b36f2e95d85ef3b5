import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { businessDaysBetween, daysBetween, monthsBetween, parseDate } from '../dates.ts';

export default defineTool({
  name: 'days_between',
  input: { from: z.string(), to: z.string() },
  handler({ from, to }) {
    const start = parseDate(from);
    const end = parseDate(to);
    const days = daysBetween(start, end);
    return {
      days,
      weeks: Math.trunc(days / 7),
      months: monthsBetween(start, end),
      businessDays: businessDaysBetween(start, end),
    };
  },
});
