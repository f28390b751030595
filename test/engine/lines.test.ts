/**
 * Output as lines against the real engine (logs, followed logs, TTY, exec and attach sessions),
 * lines written in pieces across frames, and `system.events().ready`: subscribe, await ready,
 * then act, with no sleep in between.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AbortError, Docker, type Line } from '../../src/index.js';
import { Created, TEST_LABEL, labels } from '../support/engine.js';

const docker = new Docker();
const created = new Created(docker);
afterEach(() => created.cleanup());
afterAll(() => docker.close());

async function collect(lines: AsyncIterable<Line>): Promise<Line[]> {
  const out: Line[] = [];
  for await (const l of lines) out.push(l);
  return out;
}

const of = (lines: Line[], stream: 'stdout' | 'stderr'): string[] => lines.filter((l) => l.stream === stream).map((l) => l.line);

/** Writes lines in pieces, with pauses, so they reach the engine (and the log) as several writes. */
const PIECES = "printf 'ab'; sleep 0.2; printf 'c\\nd'; sleep 0.2; printf 'e1\\n' >&2; printf 'f\\r\\ng'; sleep 0.2; printf 'e2'>&2; printf 'h\\n'; printf 'tail'";

describe('lines', () => {
  it('logs().lines(): lines written in pieces come whole, per stream, the unterminated last ones at the end', async () => {
    const id = await created.runContainer({ Cmd: ['sh', '-c', PIECES] });
    // Followed from the start while the pieces are being written…
    // The engine logs an unterminated last piece only when the process's output closes, at its
    // exit, when a followed log may already have ended: 'tail' and 'e2' may miss the followed read.
    const followed = await collect(docker.containers.logs(id, { follow: true }).lines());
    expect(of(followed, 'stdout').slice(0, 3)).toEqual(['abc', 'df', 'gh']);
    expect(['abc,df,gh', 'abc,df,gh,tail']).toContain(of(followed, 'stdout').join());
    expect(of(followed, 'stderr')[0]).toBe('e1');
    // …and read again after the exit: the same lines.
    expect((await docker.containers.wait(id)).StatusCode).toBe(0);
    const again = await collect(docker.containers.logs(id).lines());
    expect(of(again, 'stdout')).toEqual(['abc', 'df', 'gh', 'tail']);
    expect(of(again, 'stderr')).toEqual(['e1', 'e2']);
  });

  it('TTY logs: everything is stdout, \\r\\n endings dropped', async () => {
    const id = await created.runContainer({ Cmd: ['sh', '-c', "printf 'one\\n'; sleep 0.2; printf 'tw'; sleep 0.2; printf 'o\\nthree'; echo oops >&2"], Tty: true });
    const lines = await collect(docker.containers.logs(id, { follow: true }).lines());
    expect(lines).toEqual([
      { stream: 'stdout', line: 'one' },
      { stream: 'stdout', line: 'two' },
      { stream: 'stdout', line: 'threeoops' },
    ]);
  });

  it('exec sessions: lines of stdout and stderr, and of a TTY', async () => {
    const id = await created.runContainer();
    const exec = await docker.exec.create(id, { execConfig: { Cmd: ['sh', '-c', PIECES], AttachStdout: true, AttachStderr: true } });
    const session = await docker.exec.start(exec.Id, {});
    const lines = await collect(session.lines());
    expect(of(lines, 'stdout')).toEqual(['abc', 'df', 'gh', 'tail']);
    expect(of(lines, 'stderr')).toEqual(['e1', 'e2']);

    const tty = await docker.exec.create(id, { execConfig: { Cmd: ['sh', '-c', "printf 'x'; sleep 0.2; printf 'y\\nz\\n' >&2"], AttachStdout: true, AttachStderr: true, Tty: true } });
    const ttyLines = await collect((await docker.exec.start(tty.Id, { Tty: true })).lines());
    expect(ttyLines).toEqual([
      { stream: 'stdout', line: 'xy' },
      { stream: 'stdout', line: 'z' },
    ]);
  });

  it('attach sessions: lines from the start, attached before the container starts', async () => {
    const id = await created.createContainer({ Cmd: ['sh', '-c', PIECES], AttachStdout: true, AttachStderr: true });
    const session = await docker.containers.attach(id, { stream: true, stdout: true, stderr: true });
    const reading = collect(session.lines());
    await docker.containers.start(id);
    const lines = await reading;
    expect(of(lines, 'stdout')).toEqual(['abc', 'df', 'gh', 'tail']);
    expect(of(lines, 'stderr')).toEqual(['e1', 'e2']);
  });

  it('breaking out of lines() closes the followed log', async () => {
    const id = await created.runContainer({ Cmd: ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.05; done'] });
    const seen: string[] = [];
    for await (const { line } of docker.containers.logs(id, { follow: true }).lines()) {
      seen.push(line);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual(['line 1', 'line 2', 'line 3']);
  });
});

describe('system.events().ready', () => {
  it('resolves once subscribed: an event of what is done right after is seen, without a sleep', async () => {
    const mark = randomBytes(6).toString('hex');
    const controller = new AbortController();
    const guard = setTimeout(() => controller.abort(), 20_000);
    try {
      const events = docker.system.events({ filters: { type: ['container'], label: [`${TEST_LABEL}.mark=${mark}`] } }, { signal: controller.signal });
      await events.ready;
      const id = await created.createContainer({ Labels: { ...labels(), [`${TEST_LABEL}.mark`]: mark } });
      for await (const e of events) {
        expect(e.Actor?.Attributes?.[`${TEST_LABEL}.mark`]).toBe(mark);
        if (e.Action === 'create') {
          expect(e.Actor?.ID).toBe(id);
          break;
        }
      }
    } finally {
      clearTimeout(guard);
    }
    expect(controller.signal.aborted).toBe(false); // the event came, not the guard
  });

  it('rejects with the error the stream throws, and never unhandled when nobody awaits it', async () => {
    const unawaited = docker.system.events({}, { signal: AbortSignal.abort() });
    const failing = docker.system.events({}, { signal: AbortSignal.abort() });
    const readyError = await failing.ready.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(readyError).toBeInstanceOf(AbortError);
    let iterError: unknown;
    try {
      for await (const _ of failing) break;
    } catch (err) {
      iterError = err;
    }
    expect(iterError).toBe(readyError);
    // Give an unhandled rejection of `unawaited.ready` the chance to surface (vitest fails the run on one).
    await new Promise((r) => setTimeout(r, 20));
    expect(unawaited.operationId).toBe('SystemEvents');
  });
});
