// Calendar arithmetic on plain dates (YYYY-MM-DD, no time of day): every date is handled as UTC
// midnight, so daylight-saving changes never shift a day.

const DAY_MS = 86_400_000;
export const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Parses `YYYY-MM-DD`; throws a clear error for a malformed or impossible date (2026-02-30). */
export function parseDate(text: string): Date {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a date: write YYYY-MM-DD, e.g. 2026-03-14`);
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    throw new Error(`"${text}" is not a day of the calendar (month ${month} has ${daysInMonth(year, month)} days)`);
  }
  return date;
}

/** `YYYY-MM-DD` of a UTC-midnight date. */
export function formatDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** Days in `month` (1–12) of `year`. */
export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * DAY_MS);
}

/** Adds months, clamping to the last day of a shorter month (Jan 31 + 1 month = Feb 28 or 29). */
export function addMonths(date: Date, months: number): Date {
  const total = date.getUTCFullYear() * 12 + date.getUTCMonth() + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  const day = Math.min(date.getUTCDate(), daysInMonth(year, month + 1));
  return new Date(Date.UTC(year, month, day));
}

export function isWeekend(date: Date): boolean {
  const day = date.getUTCDay();
  return day === 0 || day === 6;
}

/** Moves by `count` business days (Monday–Friday); a negative count moves back. */
export function addBusinessDays(date: Date, count: number): Date {
  let current = date;
  const step = count < 0 ? -1 : 1;
  for (let left = Math.abs(count); left > 0; ) {
    current = addDays(current, step);
    if (!isWeekend(current)) left--;
  }
  return current;
}

/** Whole days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: Date, to: Date): number {
  return Math.round((to.getTime() - from.getTime()) / DAY_MS);
}

/** Business days in [from, to): Monday–Friday, counted negative when `to` is earlier. */
export function businessDaysBetween(from: Date, to: Date): number {
  const sign = to < from ? -1 : 1;
  const [start, end] = sign === 1 ? [from, to] : [to, from];
  const days = daysBetween(start, end);
  const fullWeeks = Math.floor(days / 7);
  let count = fullWeeks * 5;
  for (let d = addDays(start, fullWeeks * 7); d < end; d = addDays(d, 1)) if (!isWeekend(d)) count++;
  return sign * count;
}

/** Whole calendar months from `from` to `to` (a month counts once its day of month is reached). */
export function monthsBetween(from: Date, to: Date): number {
  if (to < from) return -monthsBetween(to, from);
  let months = (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + to.getUTCMonth() - from.getUTCMonth();
  if (addMonths(from, months) > to) months--;
  return months;
}

/** ISO 8601 week number and its year (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeek(date: Date): { week: number; year: number } {
  const thursday = addDays(date, 3 - ((date.getUTCDay() + 6) % 7));
  const year = thursday.getUTCFullYear();
  const week = Math.floor(daysBetween(new Date(Date.UTC(year, 0, 1)), thursday) / 7) + 1;
  return { week, year };
}

/** 1 for January 1st. */
export function dayOfYear(date: Date): number {
  return daysBetween(new Date(Date.UTC(date.getUTCFullYear(), 0, 1)), date) + 1;
}

/** Throws a clear error unless `zone` is an IANA time zone name the runtime knows. */
export function checkTimeZone(zone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new Error(`"${zone}" is not a known IANA time zone, e.g. Europe/Paris, America/New_York or UTC`);
  }
}

/** The wall-clock date, time and UTC offset of an instant in `zone`. */
export function wallClock(instant: Date, zone: string): { date: string; time: string; offset: string } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'longOffset',
  }).formatToParts(instant);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const offset = part('timeZoneName').replace('GMT', '') || '+00:00';
  return {
    date: `${part('year')}-${part('month')}-${part('day')}`,
    time: `${part('hour')}:${part('minute')}:${part('second')}`,
    offset,
  };
}
