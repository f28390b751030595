/** Times as the engine's query parameters want them: unix seconds. */
import { describeValue, ValidationError } from '../errors.js';

export type TimeInput = Date | number | string;

const ACCEPTED =
  "a Date, unix seconds (a number >= 0, or a string like '1700000000' or '1700000000.123'), " +
  "an RFC 3339 date or time ('2023-11-14', '2023-11-14T22:13:20Z', '2023-11-14T22:13:20.5+01:00'; local time without a zone), " +
  "or a duration meaning that long ago ('10m', '1h30m', '1.5h', '300ms'; units ns, us, µs, ms, s, m, h)";

/** Go's duration units, in milliseconds. */
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;
const UNIX = /^(\d+)(?:\.(\d{1,9}))?$/;
// date, then optionally THH, :MM, :SS, .fraction; then optionally a zone (Z or ±HH:MM)
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?([Zz]|[+-]\d{2}:\d{2})?$/;

/** A moment as whole unix seconds and nanoseconds. */
interface Moment {
  seconds: number;
  nanos: number;
}

function fromMs(ms: number): Moment {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6)) };
}

/** `10m`, `1h30m`, `-1.5h` (Go's time.ParseDuration), as that long before now. */
function parseDuration(text: string): Moment | undefined {
  if (!DURATION.test(text)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) ms += Number(amount) * UNIT_MS[unit!]!;
  return fromMs(Date.now() - (text.startsWith('-') ? -ms : ms));
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** An RFC 3339 timestamp or one of its shorter forms, as the docker CLI reads --since/--until. */
function parseDate(text: string): Moment | undefined | null {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour = 0, minute = 0, second = 0] = m.slice(1, 7).map((x) => (x === undefined ? undefined : Number(x))) as number[];
  const zone = m[8];
  const bad = month! < 1 || month! > 12 || day! < 1 || day! > daysIn(year!, month!) || hour > 23 || minute > 59 || second > 59;
  if (bad) return null;
  let ms: number;
  if (zone === undefined) {
    // No zone: local time, as the CLI (and Date) read it.
    const local = new Date(2000, 0, 1, hour, minute, second);
    local.setFullYear(year!, month! - 1, day!);
    ms = local.getTime();
  } else {
    let offset = 0;
    if (zone !== 'Z' && zone !== 'z') {
      const oh = Number(zone.slice(1, 3));
      const om = Number(zone.slice(4, 6));
      if (oh > 23 || om > 59) return null;
      offset = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
    }
    const utc = new Date(0);
    utc.setUTCFullYear(year!, month! - 1, day!);
    utc.setUTCHours(hour, minute, second, 0);
    ms = utc.getTime() - offset;
  }
  return { seconds: Math.floor(ms / 1000), nanos: m[7] ? Number(m[7].padEnd(9, '0')) : 0 };
}

/** Seconds with a fraction, as the engine reads them: milliseconds, or nanoseconds when finer. */
function withFraction({ seconds, nanos }: Moment): string {
  const nanosText = String(nanos).padStart(9, '0');
  return `${seconds}.${nanos % 1e6 === 0 ? nanosText.slice(0, 3) : nanosText}`;
}

/**
 * A time as unix seconds: with a fraction where the engine takes one (events: a string with
 * milliseconds, or nanoseconds when given), else whole seconds (logs, whose parameters are
 * integers). Accepts what the docker CLI accepts for --since/--until; anything else is a
 * ValidationError naming `parameter`, before anything is sent.
 */
export function toUnixSeconds(value: TimeInput | undefined, parameter: string, fraction = false): number | string | undefined {
  if (value === undefined) return undefined;
  const fail = (why: string): never => {
    throw new ValidationError(`${parameter} ${why}; give ${ACCEPTED}`, { parameter });
  };
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) fail('is an invalid Date');
    if (ms < 0) fail(`is before 1970 (${value.toISOString()})`);
    return fraction ? (ms / 1000).toFixed(3) : Math.floor(ms / 1000);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) fail(`must be a finite number of seconds >= 0, not ${describeValue(value)}`);
    return fraction ? value : Math.floor(value);
  }
  if (typeof value !== 'string') return fail(`must be a time, not ${describeValue(value)}`);
  const text = value.trim();
  const unix = UNIX.exec(text);
  if (unix) return fraction ? text : Number(unix[1]);
  const moment = parseDuration(text) ?? parseDate(text);
  if (moment === null) return fail(`is not a valid date or time: ${describeValue(value)}`);
  if (moment === undefined) return fail(`is not a time: ${describeValue(value)}`);
  if (moment.seconds < 0) return fail(`is before 1970: ${describeValue(value)}`);
  return fraction ? withFraction(moment) : moment.seconds;
}
