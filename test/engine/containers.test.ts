import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConflictError, Docker, NotFoundError, ServerError } from '../../src/index.js';
import { Created, ENGINE, TEST_IMAGE, TEST_LABEL, apiAtLeast, demux, labels, readBytes, shownName, uniqueName, waitUntil } from '../support/engine.js';
import { tar } from '../support/tar.js';

const docker = new Docker();
const created = new Created(docker);

afterEach(() => created.cleanup());
afterAll(() => docker.close());

const state = async (id: string) => (await docker.containers.inspect(id)).State!;

describe('containers: create, inspect, list', () => {
  it('creates a container with a name, labels and a command, and inspects it', async () => {
    const name = uniqueName('create');
    const res = await docker.containers.create({
      name,
      body: { Image: TEST_IMAGE, Cmd: ['sleep', '300'], Labels: { ...labels(), 'dockhand.case': 'create' } },
    });
    created.container(res.Id);
    expect(res.Id).toMatch(/^[0-9a-f]{64}$/);
    expect(res.Warnings).toEqual([]);

    const c = await docker.containers.inspect(res.Id);
    expect(c.Id).toBe(res.Id);
    expect(c.Name).toBe(`/${name}`);
    expect(c.Config!.Labels).toMatchObject({ [TEST_LABEL]: 'true', 'dockhand.case': 'create' });
    expect(c.Config!.Cmd).toEqual(['sleep', '300']);
    expect(c.Config!.Image).toBe(shownName(TEST_IMAGE));
    expect(c.State!.Status).toBe('created');
    expect(c.State!.Running).toBe(false);

    // by name too
    expect((await docker.containers.inspect(name)).Id).toBe(res.Id);
  });

  it('lists with filters: label + id, label + name; stopped ones only with all: true', async () => {
    const name = uniqueName('list');
    const id = await created.createContainer({}, name);
    const other = await created.createContainer();

    const byId = await docker.containers.list({ all: true, filters: { label: [`${TEST_LABEL}=true`], id: [id] } });
    expect(byId.map((c) => c.Id)).toEqual([id]);
    expect(byId[0]!.Names).toEqual([`/${name}`]);
    expect(byId[0]!.Image).toBe(shownName(TEST_IMAGE));
    expect(byId[0]!.State).toBe('created');
    expect(byId[0]!.Labels![TEST_LABEL]).toBe('true');

    const byName = await docker.containers.list({ all: true, filters: { label: [TEST_LABEL], name: [name] } });
    expect(byName.map((c) => c.Id)).toEqual([id]);

    const labelled = await docker.containers.list({ all: true, filters: { label: [TEST_LABEL] } });
    expect(labelled.map((c) => c.Id)).toEqual(expect.arrayContaining([id, other]));

    // without all: only running containers, and ours are not running
    expect(await docker.containers.list({ filters: { id: [id] } })).toEqual([]);
    await docker.containers.start(id);
    const running = await docker.containers.list({ filters: { id: [id] } });
    expect(running.map((c) => [c.Id, c.State])).toEqual([[id, 'running']]);
  });
});

describe('containers: lifecycle', () => {
  it('starts (second start: notModified) and stops (second stop: notModified)', async () => {
    const id = await created.createContainer();
    expect(await docker.containers.start(id)).toEqual({ notModified: false });
    expect((await state(id)).Running).toBe(true);
    expect(await docker.containers.start(id)).toEqual({ notModified: true });

    expect(await docker.containers.stop(id, { t: 1 })).toEqual({ notModified: false });
    const s = await state(id);
    expect(s.Running).toBe(false);
    expect(s.Status).toBe('exited');
    expect(await docker.containers.stop(id, { t: 1 })).toEqual({ notModified: true });
  });

  it('restarts a running container: a new process, still running', async () => {
    const id = await created.runContainer();
    const before = await state(id);
    expect(await docker.containers.restart(id, { t: 0 })).toBeUndefined();
    const after = await state(id);
    expect(after.Running).toBe(true);
    expect(after.Pid).not.toBe(before.Pid);
    expect(Date.parse(after.StartedAt!)).toBeGreaterThan(Date.parse(before.StartedAt!));
  });

  it('kills with SIGKILL: exit code 137', async () => {
    const id = await created.runContainer();
    expect(await docker.containers.kill(id, { signal: 'SIGKILL' })).toBeUndefined();
    expect((await docker.containers.wait(id)).StatusCode).toBe(137);
    const s = await state(id);
    expect(s.Running).toBe(false);
    expect(s.ExitCode).toBe(137);
  });

  it('refuses to kill a container that is not running (409)', async () => {
    const id = await created.createContainer();
    const err = await docker.containers.kill(id).catch((e: unknown) => e);
    if (ENGINE.podman) {
      // Podman answers a state conflict with a 500 ("container state improper")
      expect(err).toBeInstanceOf(ServerError);
      expect(err).toMatchObject({ statusCode: 500, code: 'SERVER_ERROR', operationId: 'ContainerKill' });
      expect((err as Error).message).toContain('can only kill running containers');
      return;
    }
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({ statusCode: 409, code: 'CONFLICT', operationId: 'ContainerKill' });
    expect((err as Error).message).toContain('is not running');
  });

  it('pauses and unpauses', async () => {
    const id = await created.runContainer();
    expect(await docker.containers.pause(id)).toBeUndefined();
    let s = await state(id);
    expect(s.Paused).toBe(true);
    expect(s.Status).toBe('paused');
    const listed = await docker.containers.list({ filters: { id: [id], status: ['paused'] } });
    expect(listed.map((c) => c.Id)).toEqual([id]);

    expect(await docker.containers.unpause(id)).toBeUndefined();
    s = await state(id);
    expect(s.Paused).toBe(false);
    expect(s.Status).toBe('running');
  });

  it('renames: the old name is free, the new one resolves', async () => {
    const oldName = uniqueName('rename-old');
    const newName = uniqueName('rename-new');
    const id = await created.createContainer({}, oldName);
    expect(await docker.containers.rename(id, { name: newName })).toBeUndefined();
    expect((await docker.containers.inspect(id)).Name).toBe(`/${newName}`);
    expect((await docker.containers.inspect(newName)).Id).toBe(id);
    await expect(docker.containers.inspect(oldName)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('updates resources and the restart policy; inspect reflects them', async () => {
    const id = await created.runContainer();
    const update = docker.containers.update(id, {
      update: { Memory: 64 * 1024 * 1024, MemorySwap: -1, RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } },
    });
    if (ENGINE.podman) {
      // Podman 4.3's compat API has no container update: its router answers 404 "Not Found"
      const err = await update.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err).toMatchObject({ statusCode: 404, code: 'NOT_FOUND', operationId: 'ContainerUpdate', message: 'Not Found' });
      expect((await docker.containers.inspect(id)).HostConfig!.Memory).toBe(0);
      return;
    }
    const res = await update;
    expect(res.Warnings ?? []).toEqual([]);
    const host = (await docker.containers.inspect(id)).HostConfig!;
    expect(host.Memory).toBe(64 * 1024 * 1024);
    expect(host.MemorySwap).toBe(-1);
    expect(host.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 2 });
  });

  it('lists the processes (top)', async () => {
    const id = await created.runContainer();
    const top = await docker.containers.top(id);
    // dockerd runs `ps -ef` on the host (CMD); Podman runs the container's own ps, busybox's (COMMAND)
    const command = ENGINE.podman ? 'COMMAND' : 'CMD';
    expect(top.Titles).toContain('PID');
    expect(top.Titles).toContain(command);
    expect(top.Processes!.length).toBeGreaterThan(0);
    const cmd = top.Titles!.indexOf(command);
    expect(top.Processes!.some((p) => p[cmd] === 'sleep 300')).toBe(true);

    const custom = await docker.containers.top(id, { ps_args: '-o pid,comm' });
    expect(custom.Titles).toEqual(['PID', 'COMMAND']);
    expect(custom.Processes!.map((p) => p[1])).toContain('sleep');
  });

  it('lists filesystem changes made by the container', async () => {
    const id = await created.createContainer({ Cmd: ['sh', '-c', 'echo x > /tmp/f && rm /etc/group'] });
    await docker.containers.start(id);
    expect((await docker.containers.wait(id)).StatusCode).toBe(0);
    const changes = await docker.containers.changes(id);
    // Kind: 0 modified, 1 added, 2 deleted
    expect(changes).toEqual(
      expect.arrayContaining([
        { Path: '/tmp', Kind: 0 },
        { Path: '/tmp/f', Kind: 1 },
        { Path: '/etc/group', Kind: 2 },
      ]),
    );
  });

  it('waits for the exit and returns the exit code', async () => {
    const id = await created.createContainer({ Cmd: ['sh', '-c', 'exit 3'] });
    // a wait for the next exit, set up before the start, sees it
    const next = docker.containers.wait(id, { condition: 'next-exit' });
    await docker.containers.start(id);
    expect((await next).StatusCode).toBe(3);
    // a wait on an exited container answers at once
    expect((await docker.containers.wait(id)).StatusCode).toBe(3);
    expect((await state(id)).ExitCode).toBe(3);
  });

  it('removes: a running container needs force; afterwards it is gone', async () => {
    const stopped = await created.createContainer();
    expect(await docker.containers.remove(stopped)).toBeUndefined();
    await expect(docker.containers.inspect(stopped)).rejects.toMatchObject({ name: 'NotFoundError', statusCode: 404 });

    const running = await created.runContainer();
    if (ENGINE.podman) {
      // Podman answers a state conflict with a 500 ("container state improper")
      await expect(docker.containers.remove(running)).rejects.toMatchObject({ name: 'ServerError', statusCode: 500, message: expect.stringContaining('cannot remove container') });
    } else {
      await expect(docker.containers.remove(running)).rejects.toBeInstanceOf(ConflictError);
    }
    expect((await state(running)).Running).toBe(true);
    expect(await docker.containers.remove(running, { force: true })).toBeUndefined();
    await expect(docker.containers.inspect(running)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('containers: prune', () => {
  it('prunes exactly the stopped containers carrying the filter label', async () => {
    // a label unique to this test, so that prune cannot touch anything else
    const mark = uniqueName('prune');
    const stopped = await created.createContainer({ Labels: { 'dockhand.prune': mark } });
    const exited = await created.createContainer({ Cmd: ['true'], Labels: { 'dockhand.prune': mark } });
    await docker.containers.start(exited);
    await docker.containers.wait(exited);
    const running = await created.runContainer({ Labels: { 'dockhand.prune': mark } });
    const unmarked = await created.createContainer();

    const res = await docker.containers.prune({ filters: { label: [`${TEST_LABEL}=true`, `dockhand.prune=${mark}`] } });
    expect([...res.ContainersDeleted!].sort()).toEqual([stopped, exited].sort());
    expect(typeof res.SpaceReclaimed).toBe('number');

    await expect(docker.containers.inspect(stopped)).rejects.toBeInstanceOf(NotFoundError);
    await expect(docker.containers.inspect(exited)).rejects.toBeInstanceOf(NotFoundError);
    expect((await state(running)).Running).toBe(true);
    expect((await state(unmarked)).Status).toBe('created');
  });

  it('answers with ContainersDeleted null when nothing matches', async () => {
    const res = await docker.containers.prune({ filters: { label: [`dockhand.prune=${uniqueName('none')}`] } });
    // the engine sends null (the generated type says the field is optional, never null)
    expect(res.ContainersDeleted).toBeNull();
    expect(res.SpaceReclaimed).toBe(0);
  });
});

describe('containers: stop timeout', () => {
  it('stops a container that ignores SIGTERM within t seconds (SIGKILL after)', async () => {
    // sh as PID 1 ignores SIGTERM
    const id = await created.runContainer({ Cmd: ['sh', '-c', 'while true; do sleep 1; done'] });
    const t0 = Date.now();
    await docker.containers.stop(id, { t: 1 });
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(10_000);
    const s = await waitUntil(() => state(id), (v) => v!.Running === false, 5_000, 'stop');
    expect(s!.ExitCode).toBe(137);
  });
});

describe('containers: I/O', () => {
  it('reads logs as a multiplexed stream of stdout and stderr', async () => {
    const id = await created.createContainer({ Cmd: ['sh', '-c', 'echo out1; echo err1 >&2; echo out2'] });
    await docker.containers.start(id);
    await docker.containers.wait(id);
    const logs = await docker.api.ContainerLogs({ id, stdout: true, stderr: true });
    expect(logs.statusCode).toBe(200);
    const { stdout, stderr } = demux(await readBytes(logs));
    expect(stdout).toBe('out1\nout2\n');
    expect(stderr).toBe('err1\n');

    const onlyErr = demux(await readBytes(await docker.api.ContainerLogs({ id, stderr: true })));
    expect(onlyErr).toEqual({ stdout: '', stderr: 'err1\n' });
  });

  it('uploads a tar into a container, stats the path and downloads it back', async () => {
    const id = await created.createContainer();
    const archive = tar([{ name: 'dir/', mode: 0o755 }, { name: 'dir/a.txt', data: 'contents of a\n', mode: 0o640 }]);
    expect(await docker.api.PutContainerArchive({ id, path: '/tmp', inputStream: archive })).toBeUndefined();

    const headers = await docker.api.ContainerArchiveInfo({ id, path: '/tmp/dir/a.txt' });
    const stat = JSON.parse(Buffer.from(headers['x-docker-container-path-stat']!, 'base64').toString()) as { name: string; size: number; mode: number };
    expect(stat).toMatchObject({ name: 'a.txt', size: 'contents of a\n'.length, mode: 0o640 });

    const download = await docker.api.ContainerArchive({ id, path: '/tmp/dir/a.txt' });
    expect(download.headers['content-type']).toBe('application/x-tar');
    const bytes = await readBytes(download);
    expect(bytes.length % 512).toBe(0);
    // first header names the file; its data follows in the next block
    expect(bytes.subarray(0, 5).toString()).toBe('a.txt');
    expect(bytes.subarray(512, 512 + 14).toString()).toBe('contents of a\n');

    // and the file is there for the container's processes
    await docker.containers.start(id);
    const exec = await docker.exec.create(id, { execConfig: { Cmd: ['cat', '/tmp/dir/a.txt'], AttachStdout: true } });
    expect(demux(await readBytes(await docker.api.ExecStart({ id: exec.Id, execStartConfig: {} }))).stdout).toBe('contents of a\n');
  });

  it('stat of a missing path: NotFoundError', async () => {
    const id = await created.createContainer();
    const err = await docker.api.ContainerArchiveInfo({ id, path: '/no/such/file' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ statusCode: 404, operationId: 'ContainerArchiveInfo' });
  });

  it('attaches: stdin in, stdout out, over the hijacked connection', async () => {
    const id = await created.createContainer({ Cmd: ['cat'], OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true });
    const conn = await docker.api.ContainerAttach({ id, stream: true, stdin: true, stdout: true, stderr: true });
    expect(conn.statusCode).toBe(101);
    // API 1.42+ says which: multiplexed without a TTY; before, always raw-stream
    expect(conn.headers['content-type']).toBe(apiAtLeast('1.42') ? 'application/vnd.docker.multiplexed-stream' : 'application/vnd.docker.raw-stream');
    await docker.containers.start(id);
    const output = readBytes(conn);
    conn.end('ping\n');
    expect(demux(await output)).toEqual({ stdout: 'ping\n', stderr: '' });
    expect((await docker.containers.wait(id)).StatusCode).toBe(0);
  });

  it('reads one stats sample (one-shot, API 1.41)', async () => {
    const id = await created.runContainer();
    const stream = await docker.api.ContainerStats({ id, stream: false, 'one-shot': true });
    const stats = JSON.parse(await readBytes(stream).then((b) => b.toString())) as { id: string; name: string; memory_stats: { usage?: number }; pids_stats: { current?: number } };
    // one-shot stats carry the id and name on 20.10 (API 1.41); 26.1 (1.45) and 28.5 (1.51) leave them out
    if (ENGINE.podman) {
      // Podman (API 1.41) names them `Id` and `name`, the name without its leading slash
      expect((stats as unknown as { Id: string }).Id).toBe(id);
      expect(stats.name).toMatch(/^[^/]/);
    } else if (apiAtLeast('1.42')) {
      expect(stats.id ?? '').toBe('');
    } else {
      expect(stats.id).toBe(id);
      expect(stats.name).toMatch(/^\//);
    }
    expect(stats.pids_stats.current).toBeGreaterThanOrEqual(1);
  });
});
