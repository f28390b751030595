import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, Docker, NotFoundError, ServerError } from '../../src/index.js';
import { Created, ENGINE, demux, readBytes, waitUntil } from '../support/engine.js';

const docker = new Docker();
const created = new Created(docker);
/** One running container for the whole file; stopped ones get their own. */
let container: string;

beforeAll(async () => {
  container = await created.runContainer();
});
afterAll(async () => {
  try {
    await created.cleanup();
  } finally {
    await docker.close();
  }
});

describe('exec', () => {
  it('creates an exec instance and inspects it before it runs', async () => {
    const { Id } = await docker.exec.create(container, { execConfig: { Cmd: ['echo', 'hi'], AttachStdout: true } });
    expect(Id).toMatch(/^[0-9a-f]{64}$/);
    const info = await docker.exec.inspect(Id);
    expect(info.ID).toBe(Id);
    expect(info.ContainerID).toBe(container);
    expect(info.Running).toBe(false);
    // Podman reports 0 before the exec ran; dockerd null
    expect(info.ExitCode ?? null).toBe(ENGINE.podman ? 0 : null);
    expect(info.OpenStdout).toBe(true);
    expect(info.OpenStdin).toBe(false);
    expect(info.ProcessConfig).toMatchObject({ entrypoint: 'echo', arguments: ['hi'], tty: false, privileged: false });
    expect((await docker.containers.inspect(container)).ExecIDs).toContain(Id);
  });

  it('starts detached and reports the exit code once done', async () => {
    const { Id } = await docker.exec.create(container, { execConfig: { Cmd: ['sh', '-c', 'exit 7'] } });
    expect(await docker.api.ExecStart({ id: Id, execStartConfig: { Detach: true } })).toBeUndefined();
    if (ENGINE.podman) {
      // Podman 4.3 learns that a detached exec ended only when its exit command runs, 5 minutes
      // later (exit_command_delay; containers/podman#18424, fixed in 4.6): until then inspect
      // says Running, with the pid it had and exit code 0, while the process is long gone.
      const info = await waitUntil(() => docker.exec.inspect(Id), (i) => (i.Pid ?? 0) > 0, 10_000, 'exec to start');
      expect(info).toMatchObject({ Running: true, ExitCode: 0 });
      await waitUntil(() => docker.containers.top(container, { ps_args: '-o args' }), (t) => !t.Processes!.some((p) => p.join(' ').includes('exit 7')), 10_000, 'the exec process to end');
      expect(await docker.exec.inspect(Id)).toMatchObject({ Running: true, ExitCode: 0 });
      return;
    }
    const info = await waitUntil(() => docker.exec.inspect(Id), (i) => i.Running === false && i.ExitCode !== null, 10_000, 'exec to finish');
    expect(info.ExitCode).toBe(7);
    expect(info.Pid).toBeGreaterThan(0);
  });

  it('starts attached: the hijacked connection carries stdout and stderr, multiplexed', async () => {
    const { Id } = await docker.exec.create(container, {
      execConfig: { Cmd: ['sh', '-c', 'echo hi; echo oops >&2'], AttachStdout: true, AttachStderr: true },
    });
    const conn = await docker.api.ExecStart({ id: Id, execStartConfig: { Detach: false, Tty: false } });
    expect([101, 200]).toContain(conn.statusCode);
    const { stdout, stderr } = demux(await readBytes(conn));
    expect(stdout).toBe('hi\n');
    expect(stderr).toBe('oops\n');
    const info = await waitUntil(() => docker.exec.inspect(Id), (i) => i.Running === false, 5_000, 'exec to finish');
    expect(info.ExitCode).toBe(0);
  });

  it('passes stdin through the hijacked connection', async () => {
    const { Id } = await docker.exec.create(container, {
      execConfig: { Cmd: ['wc', '-c'], AttachStdin: true, AttachStdout: true, AttachStderr: true },
    });
    const conn = await docker.api.ExecStart({ id: Id, execStartConfig: {} });
    const output = readBytes(conn);
    conn.end('twelve bytes');
    expect(demux(await output).stdout.trim()).toBe('12');
  });

  it('starts attached with no parameters at all (params are optional in the signature)', async () => {
    // An API 1.41 engine answers 400 "got EOF while reading request body" to an empty body:
    // the client sends `{}` when execStartConfig is omitted.
    const { Id } = await docker.exec.create(container, { execConfig: { Cmd: ['echo', 'bare'], AttachStdout: true } });
    const conn = await docker.api.ExecStart({ id: Id });
    expect(demux(await readBytes(conn)).stdout).toBe('bare\n');
  });

  it('refuses an exec in a container that is not running (409), and an unknown exec id (404)', async () => {
    const stopped = await created.createContainer();
    const err = await docker.exec.create(stopped, { execConfig: { Cmd: ['true'] } }).catch((e: unknown) => e);
    if (ENGINE.podman) {
      // Podman answers a state conflict with a 500 ("container state improper")
      expect(err).toBeInstanceOf(ServerError);
      expect(err).toMatchObject({ statusCode: 500, operationId: 'ContainerExec' });
      expect((err as Error).message).toContain('can only create exec sessions on running containers');
    } else {
      expect(err).toBeInstanceOf(ConflictError);
      expect(err).toMatchObject({ statusCode: 409, operationId: 'ContainerExec' });
      expect((err as Error).message).toContain('is not running');
    }

    const missing = await docker.exec.inspect('0'.repeat(64)).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toMatchObject({ statusCode: 404, operationId: 'ExecInspect' });
  });

  it('containers.exec: a command that exits 126 itself is a result (its process is gone), with its output', async () => {
    // 126 is also the code dockerd records when it gives up on a cut exec connection; dockhand
    // then looks for the exec's process in the container (ContainerTop): gone here, so 126 stands.
    const result = await docker.containers.exec(container, { Cmd: ['sh', '-c', 'echo before; exit 126'] });
    expect(result).toEqual({ exitCode: 126, stdout: 'before\n', stderr: '' });
  });
});
