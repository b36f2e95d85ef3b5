import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { dayOfYear, daysInMonth, formatDate, isLeapYear, isoWeek, isWeekend, parseDate, WEEKDAYS } from '../dates.ts';

export default defineTool({
  name: 'date_info',
  input: { date: z.string() },
  handler({ date }) {
    const day = parseDate(date);
    const year = day.getUTCFullYear();
    const month = day.getUTCMonth() + 1;
    const week = isoWeek(day);
    return {
      date: formatDate(day),
      weekday: WEEKDAYS[day.getUTCDay()] ?? '',
      weekend: isWeekend(day),
      isoWeek: week.week,
      isoWeekYear: week.year,
      dayOfYear: dayOfYear(day),
      quarter: Math.ceil(month / 3),
      daysInMonth: daysInMonth(year, month),
      leapYear: isLeapYear(year),
    };
  },
});
