/**
 * Time context for policy: the time zone that weekdays and hours are read in, and the change windows in which
 * changes to production are allowed.
 */
import { z } from 'zod';

import { readConfigFile } from './config-file';

const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'] as const;

const clockTime = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/, 'use HH:MM between 00:00 and 24:00');

const changeWindowSchema = z
  .object({
    name: z.string().min(1),
    days: z.array(z.enum(WEEKDAYS)).min(1),
    /** Start and end in the settings' time zone; the end is exclusive. */
    start: clockTime,
    end: clockTime,
  })
  .strict()
  .refine((window) => window.start < window.end, { message: 'start must be before end', path: ['end'] });

const settingsSchema = z
  .object({
    /** An IANA time zone such as Europe/Berlin or UTC. */
    timeZone: z.string().refine(isTimeZone, { message: 'use an IANA time zone such as UTC or Europe/Berlin' }),
    changeWindows: z.array(changeWindowSchema).default([]),
  })
  .strict();

export type PolicySettings = z.output<typeof settingsSchema>;

/** The time facts policies read: the weekday, the hour and whether a change window is open. */
export interface TimeContext {
  weekday: (typeof WEEKDAYS)[number];
  hour: number;
  inChangeWindow: boolean;
  /** The open window's name, for the decision's reasons. */
  changeWindow?: string;
}

/** Reads and validates a settings file; throws an Error naming the file and field when it is invalid. */
export function loadPolicySettings(path: string): PolicySettings {
  return readConfigFile(path, settingsSchema, 'policy settings', 'set JIT_POLICY_SETTINGS to the settings file').data;
}

/** Reads the weekday, hour and open change window of an instant in the settings' time zone. */
export function timeContext(settings: PolicySettings, now: Date): TimeContext {
  const parts = formatterFor(settings.timeZone).formatToParts(now);
  const part = (type: string) => parts.find((entry) => entry.type === type)?.value ?? '';
  const weekday = part('weekday') as TimeContext['weekday'];
  const clock = `${part('hour')}:${part('minute')}`;

  const open = settings.changeWindows.find(
    (window) => window.days.includes(weekday) && window.start <= clock && clock < window.end,
  );
  return { weekday, hour: Number(part('hour')), inChangeWindow: open !== undefined, changeWindow: open?.name };
}

/** Creating a formatter costs far more than using one, so each time zone's is made once. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'long', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
