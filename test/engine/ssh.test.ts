/**
 * ssh:// hosts against a real sshd: `scripts/sshd.sh up` runs a private sshd on 127.0.0.1:2222
 * (its own config, host key, client key and log in ${TMPDIR:-/tmp}/dockhand-sshd). The remote is
 * this machine, so `docker system dial-stdio` over ssh reaches the same engine as the unix socket.
 * Without that sshd this file fails in beforeAll: it never skips.
 *
 * dockhand runs the system `ssh`, which reads the config of the user's passwd home directory
 * (never $HOME): for the length of this file a clearly marked block is appended to
 * ~/.ssh/config (`Host dockhand-test-ssh`, and 127.0.0.1 port 2222 only), and the file is put back
 * exactly as it was afterwards (removed, with ~/.ssh, if they did not exist).
 *
 * SSH connections are counted in the sshd's own log (LogLevel VERBOSE): one "Accepted publickey"
 * line per SSH connection, one "Starting session: command" line per channel (one per pooled HTTP
 * connection or hijacked stream).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError, Docker } from '../../src/index.js';
import { Created, ENGINE, ENGINE_HOST, TEST_IMAGE, labels, waitUntil } from '../support/engine.js';

const STATE = join(process.env.TMPDIR || '/tmp', 'dockhand-sshd');
const SSHD_LOG = join(STATE, 'sshd.log');
const SSHD_SCRIPT = fileURLToPath(new URL('../../scripts/sshd.sh', import.meta.url));
const ALIAS = 'dockhand-test-ssh';
const PORT = 2222;
const LOGIN = userInfo().username;

/** Where ssh reads the user's config: the passwd home directory, not $HOME. */
const SSH_DIR = join(userInfo().homedir, '.ssh');
const SSH_CONFIG = join(SSH_DIR, 'config');
const BEGIN = '# >>> dockhand test/engine/ssh.test.ts: temporary, removed when the test ends >>>';
const END = '# <<< dockhand test/engine/ssh.test.ts <<<';

/** A marker on this run's containers, so lists compared across transports hold only them. */
const RUN = randomBytes(4).toString('hex');
const RUN_LABEL = 'dockhand.test.ssh-run';

const local = new Docker();
const created = new Created(local);
/** Every ssh client a test makes: closed after it, passed or failed. */
const clients = new Set<Docker>();
function sshDocker(host: string, options: { apiVersion?: string; connectTimeout?: number } = {}): Docker {
  const d = new Docker({ host, ...options });
  clients.add(d);
  return d;
}

let original: { dirExisted: boolean; content: string | undefined; mode: number | undefined } | undefined;

function stripOurBlock(text: string): string {
  const re = new RegExp(`\\n?${BEGIN.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\\s\\S]*?${END.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n?`, 'g');
  return text.replace(re, '');
}

function installSshConfig(): void {
  const dirExisted = existsSync(SSH_DIR);
  const content = existsSync(SSH_CONFIG) ? readFileSync(SSH_CONFIG, 'utf8') : undefined;
  const mode = content === undefined ? undefined : statSync(SSH_CONFIG).mode & 0o777;
  // A block left by a run that crashed is ours: it is not part of what gets restored.
  const base = content === undefined ? undefined : stripOurBlock(content);
  original = { dirExisted, content: base, mode };
  const settings = [
    `  IdentityFile ${join(STATE, 'id_ed25519')}`,
    '  IdentitiesOnly yes',
    '  StrictHostKeyChecking yes',
    `  UserKnownHostsFile ${join(STATE, 'known_hosts')}`,
    // the remote `docker system dial-stdio` reaches the engine under test (sshd accepts it)
    `  SetEnv DOCKER_HOST=${ENGINE_HOST}`,
  ];
  const block = [
    BEGIN,
    `Host ${ALIAS}`,
    '  HostName 127.0.0.1',
    `  Port ${PORT}`,
    `  User ${LOGIN}`,
    ...settings,
    // ssh://user@127.0.0.1:2222 too, but no other port of 127.0.0.1
    `Match host 127.0.0.1 exec "test %p = ${PORT}"`,
    ...settings,
    END,
    '',
  ].join('\n');
  if (!dirExisted) {
    mkdirSync(SSH_DIR, { mode: 0o700 });
  }
  const prefix = base === undefined || base === '' ? '' : base.endsWith('\n') ? base : `${base}\n`;
  writeFileSync(SSH_CONFIG, prefix + block, { mode: 0o600 });
  if (mode !== undefined) chmodSync(SSH_CONFIG, mode);
}

function restoreSshConfig(): void {
  if (!original) return;
  if (original.content === undefined) {
    rmSync(SSH_CONFIG, { force: true });
    if (!original.dirExisted && readdirSync(SSH_DIR).length === 0) rmdirSync(SSH_DIR);
  } else {
    writeFileSync(SSH_CONFIG, original.content);
    chmodSync(SSH_CONFIG, original.mode!);
  }
  original = undefined;
}

/** Lines of the sshd log that start with `prefix`. */
function logCount(prefix: string): number {
  return readFileSync(SSHD_LOG, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith(prefix)).length;
}
const connections = (): number => logCount('Accepted publickey for ');
const sessions = (): number => logCount('Starting session: command for ');
const disconnects = (): number => logCount('Disconnected from user ');

/** Command lines of every live process (read from /proc, so the reader never counts itself). */
function processes(): Array<{ pid: number; args: string }> {
  const out: Array<{ pid: number; args: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (args) out.push({ pid: Number(name), args });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
/** What `pgrep -f dial-stdio` counts: local ssh channels and the remote `docker system dial-stdio`. */
const dialStdio = (): number => processes().filter((p) => p.args.includes('dial-stdio')).length;
/** ssh processes (channels and the [mux] master) of dockhand clients: their ControlPath is a dockhand-ssh-* dir. */
function dockhandSsh(): Array<{ pid: number; args: string; controlDir: string }> {
  const marker = new RegExp(`(${join(tmpdir(), 'dockhand-ssh-').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^/\\s]+)/cm`);
  return processes().flatMap((p) => {
    const m = /^ssh[: ]/.test(p.args) ? marker.exec(p.args) : null;
    return m ? [{ ...p, controlDir: m[1]! }] : [];
  });
}

/** True if an SSH master answers on the client's control socket (`ssh -O check`). */
function masterRunning(controlDir: string): boolean {
  const r = spawnSync('ssh', ['-o', `ControlPath=${join(controlDir, 'cm')}`, '-O', 'check', ALIAS], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0;
}

/** A loopback port nothing listens on. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

beforeAll(() => {
  const status = spawnSync('bash', [SSHD_SCRIPT, 'status'], { encoding: 'utf8', timeout: 30_000 });
  if (status.status !== 0 || !existsSync(SSHD_LOG) || !existsSync(join(STATE, 'id_ed25519'))) {
    throw new Error(
      `ssh suite: no usable test sshd on 127.0.0.1:${PORT} (${`${status.stdout ?? ''}${status.stderr ?? ''}`.trim() || status.error?.message || `exit ${status.status}`}). Start it with \`bash scripts/sshd.sh up\`.`,
    );
  }
  installSshConfig();
});
afterEach(async () => {
  const closing = [...clients].map((c) => c.close());
  clients.clear();
  await Promise.allSettled(closing);
  await created.cleanup();
});
afterAll(async () => {
  try {
    restoreSshConfig();
  } finally {
    await local.close();
  }
});

describe.each([
  ['an ssh config alias', `ssh://${ALIAS}`],
  ['user@host:port (IdentityFile from ~/.ssh/config)', `ssh://${LOGIN}@127.0.0.1:${PORT}`],
])('ssh:// through %s', (_what, host) => {
  it('lists the same containers and reports the same engine as the unix socket', async () => {
    const filters = { label: [`${RUN_LABEL}=${RUN}`] };
    await created.createContainer({ Labels: { [RUN_LABEL]: RUN } });
    await created.createContainer({ Labels: { [RUN_LABEL]: RUN } });

    const docker = sshDocker(host);
    expect(docker.address).toBe(host);
    expect(await docker.endpoint()).toEqual({ address: host, source: 'host option', attempts: [] });
    const viaSsh = await docker.containers.list({ all: true, filters });
    const viaSocket = await local.containers.list({ all: true, filters });
    expect(viaSsh).toHaveLength(2);
    expect(viaSsh).toEqual(viaSocket);
    // the same engine: its ID; Podman makes up a new ID for every answer, so there its storage
    // root (unique to each engine on this machine) and host name
    const [remote, here] = [await docker.system.info(), await local.system.info()];
    if (ENGINE.podman) expect([remote.DockerRootDir, remote.Name]).toEqual([here.DockerRootDir, here.Name]);
    else expect(remote.ID).toBe(here.ID);
    expect(await docker.apiVersion()).toBe(await local.apiVersion());
  });
});

describe('ssh:// streams', () => {
  it('create, start and attach over ssh: stdin reaches `cat`, its output comes back, it exits 0', async () => {
    const docker = sshDocker(`ssh://${ALIAS}`);
    const { Id: id } = await docker.containers.create({
      body: { Image: TEST_IMAGE, Cmd: ['cat'], OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true, Labels: labels() },
    });
    created.container(id);
    await docker.containers.start(id);
    const session = await docker.containers.attach(id, { stdin: true });
    expect(session.tty).toBe(false);
    const output = session.text();
    session.stdin.write('hello over ssh\n');
    session.stdin.end('last line, no newline');
    expect(await output).toEqual({ stdout: 'hello over ssh\nlast line, no newline', stderr: '' });
    expect((await docker.containers.wait(id)).StatusCode).toBe(0);
    expect((await local.containers.inspect(id)).State).toMatchObject({ Status: 'exited', ExitCode: 0 });
  });

  it('containers.exec over ssh: stdout, stderr, exit code, and stdin', async () => {
    const id = await created.runContainer();
    const docker = sshDocker(`ssh://${ALIAS}`);
    expect(await docker.containers.exec(id, { Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 7'] })).toEqual({ exitCode: 7, stdout: 'out\n', stderr: 'err\n' });
    expect(await docker.containers.exec(id, { Cmd: ['cat'], stdin: 'piped through ssh' })).toEqual({ exitCode: 0, stdout: 'piped through ssh', stderr: '' });
  });
});

describe('one SSH connection per client', () => {
  it('50 sequential pings: one SSH connection, one channel', async () => {
    const before = { connections: connections(), sessions: sessions() };
    const docker = sshDocker(`ssh://${ALIAS}`);
    const started = Date.now();
    for (let i = 0; i < 50; i++) expect(await docker.system.ping()).toBe('OK');
    const elapsed = Date.now() - started;
    expect(connections() - before.connections).toBe(1);
    // keep-alive: the version negotiation and the 50 pings all went over one dial-stdio channel
    expect(sessions() - before.sessions).toBe(1);
    console.info(`ssh: 50 sequential pings (first one negotiating) in ${elapsed} ms`);
  });

  it('10 concurrent requests after the first: still one SSH connection (ControlMaster), one channel each', async () => {
    const expected = (await local.system.version()).Version;
    const before = { connections: connections(), sessions: sessions() };
    const docker = sshDocker(`ssh://${ALIAS}`);
    const started = Date.now();
    // all 10 wait for the one version negotiation, then go out together
    const results = await Promise.all(Array.from({ length: 10 }, () => docker.system.version()));
    const elapsed = Date.now() - started;
    expect(results.map((r) => r.Version)).toEqual(Array(10).fill(expected));
    expect(connections() - before.connections).toBe(1);
    expect(sessions() - before.sessions).toBeGreaterThanOrEqual(2);
    expect(sessions() - before.sessions).toBeLessThanOrEqual(10);
    console.info(`ssh: 10 concurrent version calls on a fresh client in ${elapsed} ms over ${sessions() - before.sessions} channel(s)`);
  });

  it('10 concurrent requests as the very first calls (API version pinned: no negotiation first): one SSH connection', async () => {
    const before = { connections: connections(), sessions: sessions() };
    const docker = sshDocker(`ssh://${ALIAS}`, { apiVersion: await local.apiVersion() });
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 10 }, () => docker.system.ping()));
    const elapsed = Date.now() - started;
    expect(results).toEqual(Array(10).fill('OK'));
    console.info(`ssh: 10 concurrent first pings (pinned) in ${elapsed} ms: ${connections() - before.connections} SSH connection(s), ${sessions() - before.sessions} channel(s)`);
    // Each of the 10 channels starts its own `ssh -o ControlMaster=auto` at once; none finds a
    // master yet, so each makes its own SSH connection (see the report: src/transport/ssh.ts).
    expect(connections() - before.connections).toBe(1);
  });

  it('close() ends the SSH master and every channel: no ssh or dial-stdio process of the client is left', async () => {
    const dialBefore = dialStdio();
    const disconnectsBefore = disconnects();
    const connectionsBefore = connections();
    const docker = sshDocker(`ssh://${ALIAS}`);
    await Promise.all(Array.from({ length: 5 }, () => docker.system.version()));

    const mine = dockhandSsh();
    const controlDirs = [...new Set(mine.map((p) => p.controlDir))];
    expect(controlDirs).toHaveLength(1);
    const [controlDir] = controlDirs as [string];
    expect(masterRunning(controlDir)).toBe(true);
    expect(dialStdio()).toBeGreaterThan(dialBefore);
    const opened = connections() - connectionsBefore;

    const started = Date.now();
    await docker.close();
    clients.delete(docker);
    const closeTook = Date.now() - started;
    const gone = await waitUntil(
      async () => ({ ssh: dockhandSsh().filter((p) => p.controlDir === controlDir).map((p) => p.args), dialStdio: dialStdio() }),
      // Other clients of this file (still open) may see their idle dial-stdio sessions end
      // meanwhile: the count may fall below where it started, never stay above it.
      (s) => s.ssh.length === 0 && s.dialStdio <= dialBefore,
      10_000,
      "the client's ssh processes to exit",
    );
    expect(gone.ssh).toEqual([]);
    expect(gone.dialStdio).toBeLessThanOrEqual(dialBefore);
    const settled = Date.now() - started;
    expect(masterRunning(controlDir)).toBe(false);
    expect(existsSync(controlDir)).toBe(false);
    await waitUntil(async () => disconnects() - disconnectsBefore, (n) => n >= opened, 5_000, 'sshd to log the disconnection');
    console.info(`ssh: close() took ${closeTook} ms; every process gone after ${settled} ms`);
  });
});

describe('ssh failures', () => {
  it('an unknown host: ConnectionError with ssh own words', async () => {
    const docker = sshDocker('ssh://dockhand-no-such-host.invalid', { apiVersion: '1.41' });
    const err = await failure(docker.system.ping());
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ code: 'CONNECTION', address: 'ssh://dockhand-no-such-host.invalid' });
    expect((err as Error).message).toContain('Could not resolve hostname dockhand-no-such-host.invalid');
  });

  it('a port nothing listens on: ConnectionError with ssh own words', async () => {
    const port = await freePort();
    const docker = sshDocker(`ssh://${LOGIN}@127.0.0.1:${port}`, { apiVersion: '1.41' });
    const err = await failure(docker.system.ping());
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ code: 'CONNECTION', address: `ssh://${LOGIN}@127.0.0.1:${port}` });
    expect((err as Error).message).toContain(`connect to host 127.0.0.1 port ${port}: Connection refused`);
  });

  it('a user the server refuses: ConnectionError with ssh own words', async () => {
    const docker = sshDocker(`ssh://dockhand-nobody@127.0.0.1:${PORT}`, { apiVersion: '1.41' });
    const err = await failure(docker.system.ping());
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toContain('Permission denied (publickey)');
  });
});
