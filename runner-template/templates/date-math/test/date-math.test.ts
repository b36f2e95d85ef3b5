import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import addToDate from '../src/tools/add_to_date.ts';
import convertTimeZone from '../src/tools/convert_time_zone.ts';
import dateInfo from '../src/tools/date_info.ts';
import daysBetween from '../src/tools/days_between.ts';
import { call, rejects } from './fake-ctx.ts';

describe('add_to_date', () => {
  it('clamps to the end of a shorter month', async () => {
    assert.deepEqual(await call(addToDate, { date: '2024-01-31', months: 1 }), {
      date: '2024-02-29',
      weekday: 'Thursday',
    });
    assert.deepEqual(await call(addToDate, { date: '2023-01-31', months: 1 }), {
      date: '2023-02-28',
      weekday: 'Tuesday',
    });
  });

  it('adds years, weeks and days, and moves back with negative amounts', async () => {
    assert.deepEqual(await call(addToDate, { date: '2026-03-14', years: 1, weeks: 2, days: -1 }), {
      date: '2027-03-27',
      weekday: 'Saturday',
    });
  });

  it('skips weekends when adding business days', async () => {
    // Friday + 1 business day = Monday; Monday - 1 business day = Friday.
    assert.equal(
      ((await call(addToDate, { date: '2026-11-20', businessDays: 1 })) as { date: string }).date,
      '2026-11-23',
    );
    assert.equal(
      ((await call(addToDate, { date: '2026-11-23', businessDays: -1 })) as { date: string }).date,
      '2026-11-20',
    );
  });

  it('refuses impossible dates and fractional amounts', async () => {
    await assert.rejects(call(addToDate, { date: '2026-02-30', days: 1 }), /not a day of the calendar/);
    await assert.rejects(call(addToDate, { date: '14/03/2026' }), /not a date/);
    assert.ok(rejects(addToDate, { date: '2026-01-01', days: 1.5 }));
  });
});

describe('days_between', () => {
  it('counts days, whole months and business days', async () => {
    assert.deepEqual(await call(daysBetween, { from: '2026-11-02', to: '2026-12-02' }), {
      days: 30,
      weeks: 4,
      months: 1,
      businessDays: 22,
    });
  });

  it('is negative when `to` is earlier', async () => {
    const result = (await call(daysBetween, { from: '2026-11-09', to: '2026-11-02' })) as Record<string, number>;
    assert.equal(result.days, -7);
    assert.equal(result.businessDays, -5);
  });
});

describe('date_info', () => {
  it('gives the ISO week across a year boundary', async () => {
    const info = (await call(dateInfo, { date: '2027-01-01' })) as Record<string, unknown>;
    assert.equal(info.weekday, 'Friday');
    assert.equal(info.isoWeek, 53);
    assert.equal(info.isoWeekYear, 2026);
    assert.equal(info.dayOfYear, 1);
    assert.equal(info.quarter, 1);
  });

  it('knows leap years', async () => {
    const info = (await call(dateInfo, { date: '2000-02-10' })) as Record<string, unknown>;
    assert.equal(info.leapYear, true);
    assert.equal(info.daysInMonth, 29);
  });
});

describe('convert_time_zone', () => {
  it('shows an instant in several zones, daylight saving included', async () => {
    const result = (await call(convertTimeZone, {
      instant: '2026-07-01T12:00:00Z',
      timeZones: ['Europe/Paris', 'America/New_York', 'Asia/Kolkata'],
    })) as { local: { timeZone: string; date: string; time: string; offset: string }[] };
    assert.deepEqual(
      result.local.map((l) => `${l.timeZone} ${l.date} ${l.time} ${l.offset}`),
      [
        'Europe/Paris 2026-07-01 14:00:00 +02:00',
        'America/New_York 2026-07-01 08:00:00 -04:00',
        'Asia/Kolkata 2026-07-01 17:30:00 +05:30',
      ],
    );
  });

  it('refuses an instant without an offset and an unknown zone', async () => {
    await assert.rejects(
      call(convertTimeZone, { instant: '2026-07-01T12:00', timeZones: ['UTC'] }),
      /with Z or an offset/,
    );
    await assert.rejects(
      call(convertTimeZone, { instant: '2026-07-01T12:00:00Z', timeZones: ['Mars/Base'] }),
      /not a known IANA/,
    );
  });
});
