/** Bounds and outcomes for tests of calls that must settle: never hang, reject as expected. */

/** Rejects (with a test error naming `what`) if `work` has not settled after `ms`. */
export async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`test bound: ${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** The rejection of `work` (fails the test if it resolves). */
export async function rejectionOf(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection, but the call resolved');
}

/** An error's name and message, for assertion messages. */
export const said = (err: unknown): string => `${(err as Error)?.name}: ${(err as Error)?.message}`;
