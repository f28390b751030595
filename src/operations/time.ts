/** Times as the engine's query parameters want them: unix seconds. */
import { ValidationError } from '../errors.js';

export type TimeInput = Date | number | string;

/** Date -> whole seconds; numbers and strings pass as they are (strings may carry fractions or durations). */
export function toUnixSeconds(value: TimeInput | undefined, parameter: string): number | string | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new ValidationError(`${parameter} is an invalid Date`, { parameter });
    return Math.floor(ms / 1000);
  }
  return value;
}
