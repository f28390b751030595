/** Times as the engine's query parameters want them: unix seconds. */
import { ValidationError } from '../errors.js';

export type TimeInput = Date | number | string;

/**
 * Date -> unix seconds: with milliseconds as a fraction where the engine takes one (events),
 * else whole seconds (logs, whose parameters are integers). Numbers and strings pass as they are.
 */
export function toUnixSeconds(value: TimeInput | undefined, parameter: string, fraction = false): number | string | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new ValidationError(`${parameter} is an invalid Date`, { parameter });
    return fraction ? (ms / 1000).toFixed(3) : Math.floor(ms / 1000);
  }
  return value;
}
