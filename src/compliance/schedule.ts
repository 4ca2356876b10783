/**
 * When a compliance report is due, as Trivy-Operator decides it: the next time its `spec.cron`
 * matches after the later of its last update (`status.updateTimestamp`) and its creation. Pure
 * functions of the report and a given "now", so the schedule is tested with an injected clock.
 * Times are UTC (what the operator's container runs in); day-of-month and day-of-week must both
 * match, as node-cron (which delivers the ticks) matches them.
 */
import { parse as parseCron } from 'node-cron';

export interface ScheduleEntry {
  readonly cron: string;
  readonly createdAt: Date;
  /** status.updateTimestamp of the last run, if any. */
  readonly updatedAt?: Date;
}

interface CronFields {
  readonly seconds: readonly number[];
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly daysOfWeek: ReadonlySet<number>;
}

/** How far ahead to look before calling a cron expression one that never matches (e.g. 31 feb). */
const MAX_DAYS_AHEAD = 366 * 5;
const DAY_MS = 86_400_000;

const numbers = (values: readonly (number | string)[]): number[] =>
  values.filter((value): value is number => typeof value === 'number').sort((a, b) => a - b);

function cronFields(cron: string): CronFields | undefined {
  try {
    const fields = parseCron(cron);
    return {
      seconds: numbers(fields.second),
      minutes: numbers(fields.minute),
      hours: numbers(fields.hour),
      daysOfMonth: new Set(numbers(fields.dayOfMonth)),
      months: new Set(numbers(fields.month)),
      daysOfWeek: new Set(numbers(fields.dayOfWeek).map((day) => day % 7)),
    };
  } catch {
    return undefined;
  }
}

/** Whether node-cron accepts the expression (5 fields, or 6 with seconds). */
export function isValidCron(cron: string): boolean {
  return cronFields(cron) !== undefined;
}

/** The first time strictly after `after` that `cron` matches (UTC), or undefined for an invalid or never-matching expression. */
export function nextCronTime(cron: string, after: Date): Date | undefined {
  const fields = cronFields(cron);
  if (!fields) return undefined;
  const afterMs = after.getTime();
  const startDay = Math.floor(afterMs / DAY_MS) * DAY_MS;
  for (let day = 0; day <= MAX_DAYS_AHEAD; day++) {
    const dayStart = new Date(startDay + day * DAY_MS);
    if (
      !fields.months.has(dayStart.getUTCMonth() + 1) ||
      !fields.daysOfMonth.has(dayStart.getUTCDate()) ||
      !fields.daysOfWeek.has(dayStart.getUTCDay())
    ) {
      continue;
    }
    for (const hour of fields.hours) {
      for (const minute of fields.minutes) {
        for (const second of fields.seconds) {
          const at = dayStart.getTime() + ((hour * 60 + minute) * 60 + second) * 1000;
          if (at > afterMs) return new Date(at);
        }
      }
    }
  }
  return undefined;
}

/** The time the schedule counts from: the last update, or the creation when that is later. */
export function scheduleBasis(entry: ScheduleEntry): Date {
  const { createdAt, updatedAt } = entry;
  return updatedAt && updatedAt.getTime() > createdAt.getTime() ? updatedAt : createdAt;
}

/** When the report is next due; undefined when its cron never matches. */
export function dueAt(entry: ScheduleEntry): Date | undefined {
  return nextCronTime(entry.cron, scheduleBasis(entry));
}

export function isDue(entry: ScheduleEntry, now: Date): boolean {
  const at = dueAt(entry);
  return at !== undefined && at.getTime() <= now.getTime();
}

/** A Kubernetes timestamp (RFC 3339) as a Date; undefined when absent or unreadable. */
export function parseTimestamp(value: unknown): Date | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
