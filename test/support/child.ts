/**
 * Runs a case in a child process, for what must be seen from outside: that nothing crashes the
 * process (an 'error' event nobody listens to, an unhandled rejection) and that it exits on its own
 * (no connection, timer or child left behind).
 *
 * The script is an ES module run by `node --unhandled-rejections=strict --import tsx`, so it uses
 * dockhand from its TypeScript source. It gets, from a preamble the harness puts before it:
 * - `dockhand`: the namespace of src/index.ts (import other modules yourself, e.g. `node:fs`);
 * - `report(value)`: writes `value` as one JSON line on stdout (synchronously: it works even when
 *   process.stdout was ended); the last such line is the outcome's `result`;
 * - `settle(work)`: awaits a promise (or calls a function and awaits it) and resolves to
 *   `{ resolved: true }` or `{ rejected: true, name, code, dockhand, cause, message, ... }`, where
 *   `dockhand` is `err instanceof DockerError` and `cause` the cause's code (or name).
 * An uncaught exception (or, being strict, an unhandled rejection) prints `{"uncaught": ...}` and
 * exits with code 70. Nothing from the test runner is passed on but `env` and the basic variables.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE = pathToFileURL(path.join(ROOT, 'src/index.ts')).href;
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** The kill bound: a child still running after this is killed, and the outcome says `timedOut`. */
export const CHILD_TIMEOUT = 20_000;

export interface ChildOutcome {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** The last JSON line the script reported (not counting an `uncaught` line). */
  result: unknown;
  /** What the uncaughtException handler printed, if it ran. */
  uncaught: unknown;
  /** True when the child did not exit on its own within the bound and was killed. */
  timedOut: boolean;
  /** Milliseconds from spawn to exit. */
  elapsed: number;
}

const PREAMBLE = `
import { writeSync as __writeSync } from 'node:fs';
import * as dockhand from ${JSON.stringify(SOURCE)};
const __describe = (err) => {
  if (err === null || typeof err !== 'object') return { name: typeof err, message: String(err) };
  const cause = err.cause;
  return {
    name: err.name,
    code: err.code,
    dockhand: err instanceof dockhand.DockerError,
    message: String(err.message).slice(0, 4000),
    messageLength: String(err.message).length,
    ...(err.reason !== undefined ? { reason: err.reason } : {}),
    ...(err.statusCode !== undefined ? { statusCode: err.statusCode } : {}),
    ...(cause !== undefined ? { cause: (cause && (cause.code ?? cause.name)) ?? String(cause), causeMessage: String(cause?.message ?? cause).slice(0, 500) } : {}),
    stack: String(err.stack ?? '').split('\\n').slice(0, 8).join('\\n'),
  };
};
globalThis.report = (value) => { __writeSync(1, JSON.stringify(value) + '\\n'); };
globalThis.settle = async (work) => {
  try {
    await (typeof work === 'function' ? work() : work);
    return { resolved: true };
  } catch (err) {
    return { rejected: true, ...__describe(err) };
  }
};
process.on('uncaughtException', (err) => {
  __writeSync(1, JSON.stringify({ uncaught: __describe(err) }) + '\\n');
  process.exit(70);
});
`;

/** Writes `script` (after the preamble) to a temp file and runs it; kills it after `timeout` ms. */
export async function runChild(script: string, env: Record<string, string> = {}, { timeout = CHILD_TIMEOUT }: { timeout?: number } = {}): Promise<ChildOutcome> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dockhand-child-'));
  const file = path.join(dir, 'case.mjs');
  await writeFile(file, `${PREAMBLE}\n${script}\n`);
  const basic: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'TMPDIR', 'DOCKER_CONFIG']) if (process.env[k] !== undefined) basic[k] = process.env[k]!;
  const started = Date.now();
  try {
    return await new Promise<ChildOutcome>((resolve, reject) => {
      const child = spawn(process.execPath, ['--unhandled-rejections=strict', '--import', TSX, file], {
        cwd: ROOT,
        env: { ...basic, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeout);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('close', (exitCode, signal) => {
        clearTimeout(timer);
        let result: unknown;
        let uncaught: unknown;
        for (const line of stdout.split('\n')) {
          if (!line.startsWith('{')) continue;
          let value: unknown;
          try {
            value = JSON.parse(line);
          } catch {
            continue;
          }
          if (value && typeof value === 'object' && 'uncaught' in value) uncaught ??= (value as { uncaught: unknown }).uncaught;
          else result = value;
        }
        resolve({ exitCode, signal, stdout, stderr, result, uncaught, timedOut, elapsed: Date.now() - started });
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What a child said and did, for assertion messages. */
export function describeOutcome(out: ChildOutcome): string {
  return [
    `exit code ${out.exitCode}, signal ${out.signal}${out.timedOut ? ` (killed: still running after ${out.elapsed} ms)` : ''}`,
    `stdout: ${out.stdout.slice(-3000) || '(empty)'}`,
    `stderr: ${out.stderr.slice(-3000) || '(empty)'}`,
  ].join('\n');
}

/** The child exited on its own, with code 0, and nothing was uncaught. */
export function expectCleanExit(out: ChildOutcome): void {
  const why = describeOutcome(out);
  expect(out.uncaught, `an exception reached the top of the child process\n${why}`).toBeUndefined();
  expect(out.timedOut, `the child did not exit on its own\n${why}`).toBe(false);
  expect(out.exitCode, `the child's exit code\n${why}`).toBe(0);
}

export interface Rejection {
  rejected: true;
  name: string;
  code: string;
  dockhand: boolean;
  message: string;
  messageLength: number;
  cause?: string;
  causeMessage?: string;
  reason?: string;
  statusCode?: number;
}

/**
 * The child reported a typed dockhand rejection (instanceof DockerError) with one of `codes`, and
 * a cause when `withCause`; then exited cleanly. Returns the rejection for further checks.
 */
export function expectTypedRejection(out: ChildOutcome, codes: string | string[], { withCause = true }: { withCause?: boolean } = {}): Rejection {
  const why = describeOutcome(out);
  expect(out.uncaught, `an exception reached the top of the child process\n${why}`).toBeUndefined();
  const r = out.result as Partial<Rejection> | undefined;
  expect(r, `the child reported no outcome\n${why}`).toBeDefined();
  expect(r!.rejected, `the call did not reject\n${why}`).toBe(true);
  expect(r!.dockhand, `the rejection is not a dockhand DockerError (${r!.name}: ${r!.message})\n${why}`).toBe(true);
  expect([codes].flat(), `the rejection's code (${r!.name}: ${r!.message})\n${why}`).toContain(r!.code);
  if (withCause) expect(r!.cause, `the rejection has no cause (${r!.name}: ${r!.message})\n${why}`).toBeDefined();
  expectCleanExit(out);
  return r as Rejection;
}
