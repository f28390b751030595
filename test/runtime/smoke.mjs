// Engine smoke suite for every runtime dockhand supports: plain ESM, no test framework, so the
// same file runs unchanged under `node`, `bun` and `deno run -A` (see scripts/test-runtimes.sh).
//
//   npm run build && node test/runtime/smoke.mjs
//   bun test/runtime/smoke.mjs
//   deno run -A --config test/runtime/deno.json test/runtime/smoke.mjs
//
// It imports the BUILT package (dist/esm/index.js) and talks to the engine at DOCKER_HOST (else
// the default socket), and to the plain registry at DOCKHAND_REGISTRY (default 127.0.0.1:5000).
// One line per check, then `N passed, N failed` alone on the last line; exits 1 on any failure.
// Every object it creates carries the label dockhand.test=true (and dockhand.run=<this run>) and
// is removed at the end, whatever failed; a check that hangs fails after CHECK_TIMEOUT_MS.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Docker } from '../../dist/esm/index.js';

const TEST_IMAGE = 'dockhand-test/busybox:latest';
const REGISTRY = process.env.DOCKHAND_REGISTRY || '127.0.0.1:5000';
const CHECK_TIMEOUT_MS = Number(process.env.DOCKHAND_SMOKE_TIMEOUT_MS || 60_000);

/** Which runtime this is, as `name version`. */
function runtime() {
  if (globalThis.Deno?.version?.deno) return { name: 'deno', version: globalThis.Deno.version.deno };
  if (process.versions.bun) return { name: 'bun', version: process.versions.bun };
  return { name: 'node', version: process.versions.node };
}

const rt = runtime();
const RUN = `smoke-${rt.name}-${randomBytes(4).toString('hex')}`;
const LABELS = { 'dockhand.test': 'true', 'dockhand.run': RUN };
const docker = new Docker();
/** Removes what the run made: node:http, whatever the checks did to `docker`. */
const sweeper = new Docker({ transport: 'node' });

// --- what this run made, removed at the end --------------------------------------------------
const made = { containers: new Set(), images: new Set(), dirs: new Set() };

async function tempDir(what) {
  const dir = await fsp.mkdtemp(path.join(tmpdir(), `dockhand-smoke-${what}-`));
  made.dirs.add(dir);
  return dir;
}

async function createContainer(body) {
  const { Id } = await docker.containers.create({ body: { Image: TEST_IMAGE, StopTimeout: 1, ...body, Labels: LABELS } });
  made.containers.add(Id);
  return Id;
}

async function cleanup() {
  const problems = [];
  const attempt = async (what, work) => {
    try {
      await work();
    } catch (err) {
      if (err?.statusCode !== 404) problems.push(`${what}: ${err?.message ?? err}`);
    }
  };
  // what this run labelled, found by label too: nothing escapes, even objects whose id was never seen
  const mine = { label: [`dockhand.run=${RUN}`] };
  await attempt('list containers', async () => {
    for (const c of await sweeper.containers.list({ all: true, filters: mine })) made.containers.add(c.Id);
  });
  for (const id of made.containers) await attempt(`container ${id.slice(0, 12)}`, () => sweeper.containers.remove(id, { force: true, v: true }));
  for (const ref of made.images) await attempt(`image ${ref}`, () => sweeper.images.remove(ref, { force: true }));
  await attempt('list images', async () => {
    for (const i of await sweeper.images.list({ filters: mine })) await attempt(`image ${i.Id}`, () => sweeper.images.remove(i.Id, { force: true }));
  });
  for (const dir of made.dirs) await attempt(`folder ${dir}`, () => fsp.rm(dir, { recursive: true, force: true }));
  return problems;
}

// --- checks -----------------------------------------------------------------------------------
let passed = 0;
let failed = 0;
/** Set by SIGINT/SIGTERM: the checks still to come are not run, the cleanup is. */
let interrupted = false;

function assert(ok, message) {
  if (!ok) throw new Error(message);
}
const show = (v) => JSON.stringify(v);

function describeError(err) {
  if (!(err instanceof Error)) return String(err);
  let text = `${err.name}${err.code ? ` ${err.code}` : ''}: ${err.message}`;
  for (let cause = err.cause, depth = 0; cause && depth < 3; cause = cause.cause, depth++) {
    text += ` (cause: ${cause?.code ? `${cause.code} ` : ''}${cause?.message ?? cause})`;
  }
  return text;
}

async function check(name, work, { always = false } = {}) {
  if (interrupted && !always) return;
  const started = Date.now();
  let timer;
  try {
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
    });
    const detail = await Promise.race([work(), timeout]);
    passed++;
    console.log(`ok   ${name}${detail ? `: ${detail}` : ''} (${Date.now() - started} ms)`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${describeError(err)} (${Date.now() - started} ms)`);
    if (process.env.DOCKHAND_SMOKE_DEBUG && err?.stack) console.log(err.stack.replace(/^/gm, '     '));
  } finally {
    clearTimeout(timer);
  }
}

/** Memoised steps several checks need: a failure there fails each of them with the same reason. */
const once = (work) => {
  let p;
  return () => (p ??= work());
};

/** A running `sleep` container for exec and copy. */
const runner = once(async () => {
  const id = await createContainer({ Cmd: ['sleep', '300'] });
  await docker.containers.start(id);
  return id;
});

/** The image built by the build check, pushed and pulled by the registry check. */
const built = once(async () => {
  const dir = await tempDir('build');
  await fsp.writeFile(path.join(dir, 'Dockerfile'), `FROM ${TEST_IMAGE}\nCOPY hello.txt /hello.txt\nRUN echo built-by-dockhand > /built.txt\nLABEL dockhand.test=true\n`);
  await fsp.writeFile(path.join(dir, 'hello.txt'), `hello from ${rt.name}\n`);
  const tag = `dockhand-test/smoke:${RUN}`;
  made.images.add(tag);
  const messages = [];
  const result = await docker.images.build(dir, { tags: [tag], labels: LABELS, rm: true, forceRm: true, onProgress: (m) => messages.push(m) });
  const id = result.aux?.find((a) => a?.ID)?.ID;
  assert(id, `no image ID in the build's aux: ${show(result.aux)}`);
  assert(messages.some((m) => typeof m.stream === 'string' && m.stream.includes('RUN echo')), 'no message shows the RUN step');
  return { tag, id };
});

async function main() {
  console.log(`# dockhand engine smoke suite under ${rt.name} ${rt.version} (run ${RUN})`);

  await check('ping and version', async () => {
    const pong = await docker.system.ping();
    assert(pong === 'OK', `ping answered ${show(pong)}`);
    const version = await docker.system.version();
    assert(typeof version.ApiVersion === 'string' && version.ApiVersion !== '', `no ApiVersion in ${show(version)}`);
    const using = await docker.apiVersion();
    return `engine ${version.Version}, API ${version.ApiVersion}, using ${using}, ${(await docker.endpoint()).address}`;
  });

  for (const kind of ['node', 'undici']) {
    // Bun resolves the undici package to a stand-in of its own that cannot make requests:
    // there, dockhand refuses transport 'undici' with a ValidationError naming Bun.
    const refused = kind === 'undici' && rt.name === 'bun';
    await check(refused ? `transport 'undici' under Bun: refused with a clear ValidationError` : `transport '${kind}': ping and a JSON call`, async () => {
      if (refused) {
        let err;
        try {
          await new Docker({ transport: kind }).close();
        } catch (e) {
          err = e;
        }
        assert(err?.name === 'ValidationError' && err.code === 'VALIDATION' && /Bun/.test(err.message), `expected a ValidationError naming Bun, got ${describeError(err)}`);
        return err.message;
      }
      const client = new Docker({ transport: kind });
      try {
        assert((await client.system.ping()) === 'OK', 'ping');
        const list = await client.containers.list({ all: true, filters: { label: ['dockhand.test'] } });
        assert(Array.isArray(list), `containers.list answered ${show(list)}`);
        const info = await client.system.info();
        return `${info.Containers} containers on the engine`;
      } finally {
        await client.close();
      }
    });
  }

  await check("the default transport after its switch point (undici where it works, else node:http)", async () => {
    const client = new Docker();
    try {
      const results = await Promise.all(Array.from({ length: 40 }, () => client.system.ping()));
      assert(results.every((r) => r === 'OK'), `pings answered ${show([...new Set(results)])}`);
      await new Promise((r) => setTimeout(r, 300)); // undici (if any) loads in the background
      const again = await Promise.all(Array.from({ length: 20 }, () => client.containers.list({ limit: 1 })));
      assert(again.every(Array.isArray), 'containers.list after the switch');
      return '60 calls';
    } finally {
      await client.close();
    }
  });

  await check('a config.json that does not parse: the error quotes no credential', async () => {
    const dir = await tempDir('config');
    await fsp.writeFile(path.join(dir, 'config.json'), '{"auths":{"r":{"auth": s3cretV4lue}}}');
    let err;
    try {
      new Docker({ env: { DOCKER_CONFIG: dir } });
    } catch (e) {
      err = e;
    }
    assert(err?.name === 'ValidationError', `expected a ValidationError, got ${describeError(err)}`);
    const everything = `${err.message} ${err.stack} ${JSON.stringify(err)} ${String(err.cause ?? '')}`;
    assert(!everything.includes('s3cret'), `the error shows the credential: ${err.message}`);
    return err.message.slice(err.message.indexOf('not valid JSON'));
  });

  await check('container: create, start, wait, logs demultiplexed', async () => {
    const id = await createContainer({ Cmd: ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; echo again-stdout; exit 3'] });
    await docker.containers.start(id);
    const { StatusCode } = await docker.containers.wait(id);
    assert(StatusCode === 3, `exit code ${StatusCode}, expected 3`);
    const text = { stdout: '', stderr: '' };
    for await (const frame of docker.containers.logs(id)) text[frame.stream] += frame.data.toString();
    assert(text.stdout === 'to-stdout\nagain-stdout\n', `stdout ${show(text.stdout)}`);
    assert(text.stderr === 'to-stderr\n', `stderr ${show(text.stderr)}`);
    const both = await docker.containers.logs(id, { stdout: false, stderr: true }).text();
    assert(both.stdout === '' && both.stderr === 'to-stderr\n', `stderr only: ${show(both)}`);
    return 'exit 3, stdout and stderr apart';
  });

  await check('containers.exec with stdin', async () => {
    const id = await runner();
    const input = `some input from ${rt.name}\n`.repeat(100);
    const result = await docker.containers.exec(id, { Cmd: ['sh', '-c', 'cat; echo done-on-stderr >&2; exit 5'], stdin: input });
    assert(result.exitCode === 5, `exit code ${result.exitCode}, expected 5`);
    assert(result.stdout === input, `stdout: ${result.stdout.length} bytes, expected ${input.length}`);
    assert(result.stderr === 'done-on-stderr\n', `stderr ${show(result.stderr)}`);
    const counted = await docker.containers.exec(id, { Cmd: ['wc', '-c'], stdin: (async function* () { yield Buffer.from('abc'); yield 'defg'; })() });
    assert(counted.exitCode === 0 && counted.stdout.trim() === '7', `wc -c of an iterable: ${show(counted)}`);
    return `${input.length} bytes echoed, exit 5`;
  });

  await check('containers.attach with stdin to cat', async () => {
    const id = await createContainer({ Cmd: ['cat'], OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true });
    await docker.containers.start(id);
    const session = await docker.containers.attach(id, { stdin: true });
    assert(session.tty === false, 'the session says TTY');
    const output = (async () => {
      const frames = [];
      for await (const frame of session) frames.push([frame.stream, frame.data.toString()]);
      return frames;
    })();
    session.stdin.write('hello\n');
    await new Promise((r) => setTimeout(r, 50));
    session.stdin.end('bye');
    const frames = await output; // ends by itself: stdin EOF ends cat, and the container
    const text = frames.map(([, t]) => t).join('');
    assert(frames.every(([s]) => s === 'stdout'), `frames ${show(frames)}`);
    assert(text === 'hello\nbye', `output ${show(text)}`);
    const { StatusCode } = await docker.containers.wait(id);
    assert(StatusCode === 0, `exit code ${StatusCode}`);
    return 'echoed, EOF ended it, exit 0';
  });

  await check('attach: idleTimeout ends a silent session (socket.setTimeout), signal + timeout (AbortSignal.any)', async () => {
    const id = await runner();
    const controller = new AbortController();
    const started = Date.now();
    const session = await docker.containers.attach(id, { stdin: false }, { idleTimeout: 300, timeout: 10_000, signal: controller.signal });
    let err;
    try {
      for await (const frame of session) throw new Error(`unexpected output ${show(frame.data.toString())}`);
    } catch (e) {
      err = e;
    }
    const waited = Date.now() - started;
    assert(err?.name === 'AbortError' && err.code === 'TIMEOUT', `expected AbortError TIMEOUT, got ${describeError(err)}`);
    assert(waited >= 250 && waited < 5000, `ended after ${waited} ms, idleTimeout was 300`);
    assert((await docker.containers.inspect(id)).State?.Running === true, 'the container stopped');
    return `after ${waited} ms`;
  });

  await check('a followed log stream ends with AbortError when its signal aborts', async () => {
    const id = await runner();
    const controller = new AbortController();
    const stream = docker.containers.logs(id, { follow: true }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    let err;
    try {
      for await (const frame of stream) throw new Error(`unexpected output ${show(frame.data.toString())}`);
    } catch (e) {
      err = e;
    }
    assert(err?.name === 'AbortError' && err.code === 'ABORTED', `expected AbortError ABORTED, got ${describeError(err)}`);
    return `after ${Date.now() - started} ms`;
  });

  await check('images.build of a tiny context', async () => {
    const { tag, id } = await built();
    const image = await docker.images.inspect(tag);
    assert(image.Id === id, `inspect ${image.Id}, build said ${id}`);
    assert(image.Config?.Labels?.['dockhand.run'] === RUN, `labels ${show(image.Config?.Labels)}`);
    const c = await createContainer({ Image: tag, Cmd: ['cat', '/hello.txt', '/built.txt'] });
    await docker.containers.start(c);
    await docker.containers.wait(c);
    const { stdout } = await docker.containers.logs(c).text();
    assert(stdout === `hello from ${rt.name}\nbuilt-by-dockhand\n`, `files in the image: ${show(stdout)}`);
    return id.slice(0, 19);
  });

  await check('copyTo and copyFrom round trip of a folder', async () => {
    const id = await runner();
    const src = path.join(await tempDir('copy'), 'payload');
    const files = {
      'a.txt': 'alpha\n',
      'nested/b.bin': randomBytes(70_001).toString('base64'),
      'nested/deeper/c.sh': '#!/bin/sh\necho c\n',
    };
    for (const [name, content] of Object.entries(files)) {
      await fsp.mkdir(path.dirname(path.join(src, name)), { recursive: true });
      await fsp.writeFile(path.join(src, name), content);
    }
    await fsp.chmod(path.join(src, 'nested/deeper/c.sh'), 0o755);
    await docker.containers.copyTo(id, src, '/tmp');
    const listed = await docker.containers.exec(id, { Cmd: ['sh', '-c', 'cd /tmp/payload && find . -type f | sort && ./nested/deeper/c.sh'] });
    assert(listed.stdout === './a.txt\n./nested/b.bin\n./nested/deeper/c.sh\nc\n', `in the container: ${show(listed)}`);
    const back = await tempDir('copy-back');
    await docker.containers.copyFrom(id, '/tmp/payload', back);
    for (const [name, content] of Object.entries(files)) {
      const got = await fsp.readFile(path.join(back, 'payload', name), 'utf8');
      assert(got === content, `${name} came back different (${got.length} bytes, expected ${content.length})`);
    }
    const mode = (await fsp.stat(path.join(back, 'payload/nested/deeper/c.sh'))).mode & 0o777;
    assert(mode === 0o755, `c.sh mode ${mode.toString(8)}`);
    return `${Object.keys(files).length} files, modes kept`;
  });

  await check(`images.push to ${REGISTRY}, then images.pull`, async () => {
    const { tag, id } = await built();
    const repo = `${REGISTRY}/dockhand-test/smoke`;
    const ref = `${repo}:${RUN}`;
    made.images.add(ref);
    await docker.images.tag(tag, { repo, tag: RUN });
    const pushed = await docker.images.push(repo, { tag: RUN });
    const digest = pushed.aux?.find((a) => a?.Digest)?.Digest;
    assert(typeof digest === 'string' && digest.startsWith('sha256:'), `push aux ${show(pushed.aux)}`);
    await docker.images.remove(ref); // only the tag: the build's own tag keeps the image
    const pull = docker.images.pull(ref);
    const result = await pull;
    assert(/Status: (Downloaded newer image|Image is up to date)/.test(result.last?.status ?? ''), `last pull message ${show(result.last)}`);
    const image = await docker.images.inspect(ref);
    assert(image.Id === id, `pulled ${image.Id}, pushed ${id}`);
    assert(image.RepoDigests?.includes(`${repo}@${digest}`), `repo digests ${show(image.RepoDigests)}`);
    return digest.slice(0, 19);
  });

  await check('system.events between since and until sees the create', async () => {
    const since = new Date(Date.now() - 1000);
    const id = await createContainer({ Cmd: ['true'] });
    await new Promise((r) => setTimeout(r, 20));
    const events = await docker.system.events({ since, until: new Date(Date.now() + 500), filters: { type: ['container'], container: [id] } }).toArray();
    const create = events.find((e) => e.Action === 'create' && e.Actor?.ID === id);
    assert(create, `no create event for ${id} among ${events.length}: ${show(events.map((e) => e.Action))}`);
    assert(create.Actor?.Attributes?.['dockhand.run'] === RUN, `attributes ${show(create.Actor?.Attributes)}`);
    return `${events.length} event(s)`;
  });
}

// --- run --------------------------------------------------------------------------------------
let finishing = false;
async function finish(code) {
  if (finishing) return;
  finishing = true;
  await check('cleanup: every object of this run removed', async () => {
    const problems = await cleanup();
    assert(problems.length === 0, problems.join('; '));
    const left = await sweeper.containers.list({ all: true, filters: { label: [`dockhand.run=${RUN}`] } });
    assert(left.length === 0, `${left.length} container(s) left`);
    return `${made.containers.size} container(s), ${made.images.size} image tag(s), ${made.dirs.size} folder(s)`;
  }, { always: true });
  await Promise.race([Promise.all([docker.close(), sweeper.close()]), new Promise((r) => setTimeout(r, 5000))]).catch(() => undefined);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code ?? (failed > 0 ? 1 : 0));
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (interrupted || finishing) return;
    console.log(`FAIL interrupted by ${signal}`);
    failed++;
    interrupted = true;
    void finish(1);
  });
}

try {
  await main();
} catch (err) {
  failed++;
  console.log(`FAIL the suite itself: ${describeError(err)}`);
}
await finish();
