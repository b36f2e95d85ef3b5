import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { addBusinessDays, addDays, addMonths, formatDate, parseDate, WEEKDAYS } from '../dates.ts';

const amount = z.int().min(-100_000).max(100_000).optional();

export default defineTool({
  name: 'add_to_date',
  input: {
    date: z.string(),
    years: amount,
    months: amount,
    weeks: amount,
    days: amount,
    businessDays: amount,
  },
  handler({ date, years = 0, months = 0, weeks = 0, days = 0, businessDays = 0 }) {
    let result = addMonths(parseDate(date), years * 12 + months);
    result = addDays(result, weeks * 7 + days);
    result = addBusinessDays(result, businessDays);
    return { date: formatDate(result), weekday: WEEKDAYS[result.getUTCDay()] ?? '' };
  },
});
