/**
 * `docker.run` against the real engine: exit codes, output split, TTY, stdin, output modes,
 * auto-removal, detach, signal and timeout, pull policies through the local registry
 * (127.0.0.1:5000), a failing start, and the options checked before anything is sent.
 *
 * Every container a run makes carries the test label; those a test keeps (detach, remove: false,
 * named ones) are registered with `created` and removed after the test, passed or failed.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AbortError, Docker, DockerError, NotFoundError, ServerError, ValidationError } from '../../src/index.js';
import { Created, ENGINE, RecordingTransport, TEST_IMAGE, labels, uniqueName, waitUntil } from '../support/engine.js';

const docker = new Docker();
const created = new Created(docker);

afterEach(() => created.cleanup());
afterAll(() => docker.close());

/** Whether a container (by id or name) is gone. */
async function gone(idOrName: string): Promise<boolean> {
  return docker.containers.inspect(idOrName).then(
    () => false,
    (err: unknown) => {
      if (err instanceof NotFoundError) return true;
      // Podman 4.3 answers an inspect made while it removes the container with a 500 "does not
      // exist in database: no such container": gone too.
      if (ENGINE.podman && err instanceof ServerError && /no such container/.test(err.message)) return true;
      throw err;
    },
  );
}

/** A Writable that keeps what it is given, and says whether it was ended. */
function collector(): { stream: Writable; text: () => string; ended: () => boolean } {
  const chunks: Buffer[] = [];
  let ended = false;
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      callback();
    },
    final(callback) {
      ended = true;
      callback();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8'), ended: () => ended };
}

describe('run: collecting', () => {
  it('resolves to the exit code (non-zero is a result) and stdout/stderr apart; the container is removed', async () => {
    const name = created.container(uniqueName('run'));
    const result = await docker.run(TEST_IMAGE, ['sh', '-c', 'echo to-out; echo to-err >&2; echo more-out; exit 3'], { name, labels: labels() });
    expect(result).toEqual({ exitCode: 3, stdout: 'to-out\nmore-out\n', stderr: 'to-err\n', containerId: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(await gone(result.containerId)).toBe(true);
    expect(await gone(name)).toBe(true);
  });

  it('output written before the attach could have been made is kept (attach before start)', async () => {
    // `echo` at once and exit: a client attaching after the start loses this on a fast engine.
    for (let i = 0; i < 3; i++) {
      const { stdout, exitCode } = await docker.run(TEST_IMAGE, ['echo', `first-${i}`], { labels: labels() });
      expect([exitCode, stdout]).toEqual([0, `first-${i}\n`]);
    }
  });

  it('tty: raw output, all on stdout, with the terminal\'s \\r\\n', async () => {
    const { exitCode, stdout, stderr } = await docker.run(TEST_IMAGE, ['sh', '-c', 'echo out; echo err >&2; exit 4'], { tty: true, labels: labels() });
    expect(exitCode).toBe(4);
    expect(stdout).toBe('out\r\nerr\r\n');
    expect(stderr).toBe('');
  });

  it('stdin: a string, a Buffer, a Readable, each followed by EOF', async () => {
    const text = await docker.run(TEST_IMAGE, ['cat'], { stdin: 'line 1\nno newline at the end', labels: labels() });
    expect(text).toMatchObject({ exitCode: 0, stdout: 'line 1\nno newline at the end', stderr: '' });

    const bytes = randomBytes(300_000);
    const counted = await docker.run(TEST_IMAGE, ['sh', '-c', 'wc -c; exit 5'], { stdin: bytes, labels: labels() });
    expect(counted.exitCode).toBe(5);
    expect(counted.stdout.trim()).toBe(String(bytes.length));

    const stream = Readable.from((async function* () {
      for (let i = 0; i < 5; i++) {
        yield Buffer.from(`chunk ${i}\n`);
        await sleep(10);
      }
    })());
    const piped = await docker.run(TEST_IMAGE, ['sort', '-r'], { stdin: stream, labels: labels() });
    expect(piped.stdout).toBe('chunk 4\nchunk 3\nchunk 2\nchunk 1\nchunk 0\n');
  });

  it('stdin with a tty is typed into the terminal: the shell runs it (stdin stays open, see run.ts)', async () => {
    const { exitCode, stdout } = await docker.run(TEST_IMAGE, ['sh'], { tty: true, stdin: "echo h''i; exit 6\n", labels: labels() });
    expect(exitCode).toBe(6);
    // `h''i`: the terminal's echo of the line is not the command's output
    expect(stdout).toMatch(/(^|\n)hi\r\n/);
  });

  it("output: 'buffer' gives the bytes as they are", async () => {
    const { stdout, stderr } = await docker.run(TEST_IMAGE, ['sh', '-c', 'printf "\\377\\000\\001"; printf "\\376" >&2'], { output: 'buffer', labels: labels() });
    expect(Buffer.isBuffer(stdout) && Buffer.isBuffer(stderr)).toBe(true);
    expect([...stdout]).toEqual([0xff, 0x00, 0x01]);
    expect([...stderr]).toEqual([0xfe]);
  });

  it('stdout/stderr writables: the output goes there (and they are ended), the result has none of it', async () => {
    const out = collector();
    const err = collector();
    const result = await docker.run(TEST_IMAGE, ['sh', '-c', 'echo o1; echo e1 >&2; echo o2'], { stdout: out.stream, stderr: err.stream, labels: labels() });
    expect([out.text(), err.text(), out.ended(), err.ended()]).toEqual(['o1\no2\n', 'e1\n', true, true]);
    expect([result.stdout, result.stderr, result.exitCode]).toEqual(['', '', 0]);

    // only stdout piped: stderr is collected
    const half = collector();
    const mixed = await docker.run(TEST_IMAGE, ['sh', '-c', 'echo o; echo e >&2'], { stdout: half.stream, labels: labels() });
    expect([half.text(), mixed.stdout, mixed.stderr]).toEqual(['o\n', '', 'e\n']);
  });

  it('remove: false keeps the exited container, with the exit code the run gave', async () => {
    const result = await docker.run(TEST_IMAGE, ['sh', '-c', 'exit 9'], { remove: false, labels: labels() });
    created.container(result.containerId);
    const info = await docker.containers.inspect(result.containerId);
    expect([result.exitCode, info.State?.Status, info.State?.ExitCode]).toEqual([9, 'exited', 9]);
    expect(info.HostConfig?.AutoRemove).toBe(false);
  });

  it('options become the container config: env (object and list), workdir, user, entrypoint, labels, volumes, mounts, body', async () => {
    const volume = created.volume(uniqueName('run-vol'));
    await docker.volumes.create({ body: { Name: volume, Labels: labels() } });
    await docker.run(TEST_IMAGE, ['sh', '-c', 'echo from-first-run > /data/file'], { volumes: [`${volume}:/data`], labels: labels() });
    const script = 'echo "$A|$B"; pwd; id -u; cat /data/file; echo tmp > /scratch/x && cat /scratch/x; hostname';
    const name = created.container(uniqueName('run-opts'));
    const result = await docker.run(TEST_IMAGE, ['-c', script], {
      name,
      env: { A: 'a value', B: 2 },
      workdir: '/tmp',
      user: '1234',
      entrypoint: 'sh',
      labels: { ...labels(), 'dockhand.run-test': 'yes' },
      volumes: [`${volume}:/data:ro`],
      mounts: [{ Type: 'tmpfs', Target: '/scratch' }],
      body: { Hostname: 'run-host' },
      remove: false,
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('a value|2\n/tmp\n1234\nfrom-first-run\ntmp\nrun-host\n');
    const info = await docker.containers.inspect(name);
    expect(info.Config?.Labels?.['dockhand.run-test']).toBe('yes');
    expect(info.Config?.Entrypoint).toEqual(['sh']);

    const listed = await docker.run(TEST_IMAGE, ['sh', '-c', 'echo "$X"'], { env: ['X=from a list'], labels: labels() });
    expect(listed.stdout).toBe('from a list\n');
  });

  it('network: the container joins the network given', async () => {
    const net = uniqueName('run-net');
    created.network((await docker.networks.create({ body: { Name: net, Labels: labels() } })).Id!);
    const name = created.container(uniqueName('run-net-c'));
    const result = await docker.run(TEST_IMAGE, ['true'], { name, network: net, remove: false, labels: labels() });
    expect(result.exitCode).toBe(0);
    const info = await docker.containers.inspect(name);
    expect(Object.keys(info.NetworkSettings?.Networks ?? {})).toEqual([net]);
  });
});

describe('run: detach and handles', () => {
  it('detach resolves to the started container\'s handle; ports get a random host port; disposal removes it', async () => {
    const handle = await docker.run(TEST_IMAGE, ['sleep', '300'], { detach: true, ports: { '80/tcp': 0, 81: 0 }, labels: labels() });
    created.container(handle.id);
    const info = await handle.inspect();
    expect(info.Id).toBe(handle.id);
    expect(info.State?.Running).toBe(true);
    expect(info.HostConfig?.AutoRemove).toBe(false);
    for (const port of ['80/tcp', '81/tcp']) {
      const bindings = info.NetworkSettings?.Ports?.[port] ?? [];
      expect(bindings.length, port).toBeGreaterThan(0);
      for (const b of bindings) expect(Number(b.HostPort), port).toBeGreaterThan(0);
    }
    const { exitCode, stdout } = await handle.exec({ Cmd: ['echo', 'in the detached one'] });
    expect([exitCode, stdout]).toEqual([0, 'in the detached one\n']);
    await handle[Symbol.asyncDispose]();
    expect(await gone(handle.id)).toBe(true);
    // already gone: disposing again is fine
    await handle[Symbol.asyncDispose]();
  });

  it('detach with remove: the engine removes the container when it exits (AutoRemove)', async () => {
    const handle = await docker.run(TEST_IMAGE, ['sh', '-c', 'sleep 1'], { detach: true, remove: true, labels: labels() });
    created.container(handle.id);
    expect((await handle.inspect()).HostConfig?.AutoRemove).toBe(true);
    await waitUntil(() => gone(handle.id), (g) => g, 15_000, 'the auto-removed container to go');
  });
});

describe('run: cancellation and failures', () => {
  it('signal: kills and removes the container, rejects with AbortError', async () => {
    const name = created.container(uniqueName('run-abort'));
    const controller = new AbortController();
    const running = docker.run(TEST_IMAGE, ['sh', '-c', 'echo started; exec sleep 300'], { name, signal: controller.signal, labels: labels() });
    await waitUntil(() => docker.containers.inspect(name).then((c) => c.State?.Running === true, () => false), (r) => r, 15_000, 'the container to run');
    const abortedAt = Date.now();
    controller.abort();
    const err = await running.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ code: 'ABORTED' });
    expect(Date.now() - abortedAt).toBeLessThan(10_000);
    expect(await gone(name)).toBe(true);
  });

  it('timeout: the same, with code TIMEOUT; remove: false does not keep a timed-out container', async () => {
    const name = created.container(uniqueName('run-timeout'));
    const err = await docker.run(TEST_IMAGE, ['sleep', '300'], { name, timeout: 1500, remove: false, labels: labels() }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ code: 'TIMEOUT', timedOut: true });
    expect(await gone(name)).toBe(true);
  });

  it('a signal aborted before the run: nothing is created', async () => {
    const name = created.container(uniqueName('run-pre-abort'));
    const err = await docker.run(TEST_IMAGE, ['true'], { name, signal: AbortSignal.abort(), labels: labels() }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(await gone(name)).toBe(true);
  });

  it('a failed start rejects with the engine\'s error and removes the container; remove: false keeps it', async () => {
    const name = created.container(uniqueName('run-badstart'));
    const err = await docker.run(TEST_IMAGE, ['/no/such/program'], { name, labels: labels() }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DockerError);
    // dockerd answers the OCI runtime's "no such file" with 400; Podman 4.3 fails the start of a
    // container with an attach waiting ("preparing container ... for attach") with 409.
    expect((err as DockerError).statusCode).toBe(ENGINE.podman ? 409 : 400);
    expect((err as Error).message).toMatch(/no such file|not found/i);
    expect(await gone(name)).toBe(true);

    const kept = created.container(uniqueName('run-badstart-kept'));
    await expect(docker.run(TEST_IMAGE, ['/no/such/program'], { name: kept, remove: false, labels: labels() })).rejects.toBeInstanceOf(DockerError);
    expect((await docker.containers.inspect(kept)).State?.Running).toBe(false);
  });

  it("a missing image with pull: 'never' is the engine's NotFoundError, and no container is made", async () => {
    const name = created.container(uniqueName('run-never'));
    const image = `dockhand-test/no-such-image-${randomBytes(4).toString('hex')}:1`;
    await expect(docker.run(image, ['true'], { name, pull: 'never', labels: labels() })).rejects.toBeInstanceOf(NotFoundError);
    expect(await gone(name)).toBe(true);
  });
});

describe('run: pull', () => {
  const REGISTRY = '127.0.0.1:5000';

  /** Pushes the test image to the local registry under a new name, and removes the local tag. */
  async function pushedOnly(): Promise<string> {
    const repo = `${REGISTRY}/dockhand-run-${randomBytes(4).toString('hex')}`;
    const ref = created.image(`${repo}:1`);
    await docker.images.tag(TEST_IMAGE, { repo, tag: '1' });
    await docker.images.push(repo, { tag: '1' });
    await docker.images.remove(ref);
    await expect(docker.images.inspect(ref)).rejects.toBeInstanceOf(NotFoundError);
    return ref;
  }

  it("pull: 'missing' (the default) pulls an image the engine lacks, from the registry, then runs it", async () => {
    const ref = await pushedOnly();
    const result = await docker.run(ref, ['echo', 'pulled and ran'], { labels: labels() });
    expect([result.exitCode, result.stdout]).toEqual([0, 'pulled and ran\n']);
    const image = await docker.images.inspect(ref);
    expect(image.Id).toBe((await docker.images.inspect(TEST_IMAGE)).Id);
  });

  it("pull: 'always' pulls even when the image is there (a newer tag in the registry wins)", async () => {
    const ref = await pushedOnly();
    // Locally, the tag now names another image (made here, never pushed): 'always' replaces it.
    const local = await docker.images.commit({ container: await created.runContainer({ Labels: labels() }), repo: ref.slice(0, ref.lastIndexOf(':')), tag: '1', changes: 'LABEL dockhand.test=true' });
    expect((await docker.images.inspect(ref)).Id).not.toBe((await docker.images.inspect(TEST_IMAGE)).Id);
    created.image(local.Id!);
    await docker.run(ref, ['true'], { pull: 'always', labels: labels() });
    expect((await docker.images.inspect(ref)).Id).toBe((await docker.images.inspect(TEST_IMAGE)).Id);
  });
});

describe('run: options checked before anything is sent', () => {
  const recording = new RecordingTransport();
  const quiet = new Docker({ transport: recording });
  afterAll(() => quiet.close());

  const refusals: Array<[string, () => Promise<unknown>, RegExp, string]> = [
    ['an unknown option, with a suggestion', () => quiet.run(TEST_IMAGE, ['true'], { labls: { A: '1' } } as never), /unknown option "labls" \(did you mean labels\?\)/, 'labls'],
    ['an unknown option, nothing close', () => quiet.run(TEST_IMAGE, ['true'], { restartPolicy: 'always' } as never), /unknown option "restartPolicy"$/, 'restartPolicy'],
    ['a misspelt option', () => quiet.run(TEST_IMAGE, ['true'], { workDir: '/x' } as never), /did you mean workdir\?/, 'workDir'],
    ['a command given as a string', () => quiet.run(TEST_IMAGE, 'echo hi' as never), /command must be a non-empty array of strings.*the string "echo hi"/, 'cmd'],
    ['env with a bad value', () => quiet.run(TEST_IMAGE, ['true'], { env: { A: {} } } as never), /option env must be/, 'env'],
    ['ports with a bad key', () => quiet.run(TEST_IMAGE, ['true'], { ports: { http: 80 } }), /option ports must be/, 'ports'],
    ['pull with a bad value', () => quiet.run(TEST_IMAGE, ['true'], { pull: 'sometimes' } as never), /"missing", "always" or "never"/, 'pull'],
    ['tty not a boolean', () => quiet.run(TEST_IMAGE, ['true'], { tty: 'yes' } as never), /option tty must be a boolean, not string "yes"/, 'tty'],
    ['stdin with detach', () => quiet.run(TEST_IMAGE, ['true'], { detach: true, stdin: 'x' } as never), /stdin does not go with detach/, 'stdin'],
    ['an option and the body setting the same field', () => quiet.run(TEST_IMAGE, ['true'], { env: ['A=1'], body: { Env: ['B=2'] } }), /option env and body.Env both set Env/, 'env'],
    ['a body field run sets itself', () => quiet.run(TEST_IMAGE, ['true'], { body: { Image: 'other' } }), /body.Image is set by run/, 'body.Image'],
    ['AutoRemove in the body', () => quiet.run(TEST_IMAGE, ['true'], { body: { HostConfig: { AutoRemove: true } } }), /use the remove option/, 'body.HostConfig.AutoRemove'],
    ['remove with a restart policy', () => quiet.run(TEST_IMAGE, ['true'], { body: { HostConfig: { RestartPolicy: { Name: 'always' } } } }), /conflict/, 'remove'],
    ['an empty image', () => quiet.run('', ['true']), /image must be a non-empty string/, 'image'],
  ];

  it.each(refusals)('%s: ValidationError naming it, nothing sent', async (_what, call, message, parameter) => {
    const err = await call().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(message);
    expect((err as ValidationError).parameter).toBe(parameter);
    expect(recording.sent).toEqual([]);
  });

  it('a body field of the wrong type is the body validator\'s ValidationError, before the create is sent', async () => {
    const name = created.container(uniqueName('run-badbody'));
    const err = await docker.run(TEST_IMAGE, ['true'], { name, body: { HostConfig: { Memroy: 1 } } as never, labels: labels() }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(/Memroy is not a field of HostConfig \(did you mean Memory\?\)/);
    expect(await gone(name)).toBe(true);
  });
});
