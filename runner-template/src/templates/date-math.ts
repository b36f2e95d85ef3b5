import { z } from 'zod';
import { type StaticBuild, staticTemplate } from './define.ts';

const pure = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const date = (description: string) => ({ type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description });
const amount = (description: string) => ({ type: 'integer', minimum: -100000, maximum: 100000, description });

/** `date-math`: calendar arithmetic, ISO weeks and time zones, with no network access. */
export const dateMathTemplate = staticTemplate({
  name: 'date-math',
  title: 'Calendar and date math',
  description: 'Date arithmetic (months clamp to month end, business days), date facts and time zone conversion.',
  options: z.strictObject({}),
  build: (): StaticBuild => ({
    description: 'Calendar and date math: add to dates, count days and business days, ISO weeks, time zones.',
    tools: [
      {
        name: 'add_to_date',
        title: 'Add to a date',
        description:
          'Adds years, months, weeks, days and then business days (Monday to Friday) to a YYYY-MM-DD date. Months clamp to the last day (Jan 31 + 1 month = Feb 28/29). Negative amounts go back.',
        inputSchema: {
          type: 'object',
          properties: {
            date: date('Start date, YYYY-MM-DD.'),
            years: amount('Years to add.'),
            months: amount('Months to add.'),
            weeks: amount('Weeks to add.'),
            days: amount('Days to add.'),
            businessDays: amount('Business days to add after the rest (weekends skipped).'),
          },
          required: ['date'],
        },
        annotations: pure,
      },
      {
        name: 'days_between',
        title: 'Days between dates',
        description:
          'Counts the days, whole weeks, whole calendar months and business days (Monday to Friday, end date excluded) from one YYYY-MM-DD date to another; negative when the second is earlier.',
        inputSchema: {
          type: 'object',
          properties: { from: date('First date, YYYY-MM-DD.'), to: date('Second date, YYYY-MM-DD.') },
          required: ['from', 'to'],
        },
        annotations: pure,
      },
      {
        name: 'date_info',
        title: 'Date facts',
        description:
          'Facts about a YYYY-MM-DD date: weekday, weekend or not, ISO 8601 week and week-year, day of year, quarter, days in its month, leap year.',
        inputSchema: { type: 'object', properties: { date: date('The date, YYYY-MM-DD.') }, required: ['date'] },
        annotations: pure,
      },
      {
        name: 'convert_time_zone',
        title: 'Convert between time zones',
        description:
          'Shows one instant (ISO 8601 with Z or an offset) as local date, time and UTC offset in each given IANA time zone, daylight saving included.',
        inputSchema: {
          type: 'object',
          properties: {
            instant: {
              type: 'string',
              description: 'The instant, e.g. 2026-03-14T09:30:00Z or 2026-03-14T10:30:00+01:00.',
            },
            timeZones: {
              type: 'array',
              items: { type: 'string' },
              minItems: 1,
              maxItems: 20,
              description: 'IANA time zone names, e.g. Europe/Paris.',
            },
          },
          required: ['instant', 'timeZones'],
        },
        annotations: pure,
      },
    ],
  }),
});
