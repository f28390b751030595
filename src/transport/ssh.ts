/**
 * ssh://[user@]host[:port]: each connection is the system `ssh` running `docker system dial-stdio`
 * on the remote, so ~/.ssh/config, the agent and known_hosts apply. One SSH connection (a
 * ControlMaster, started once) carries every channel, and channels are kept alive and pooled like
 * sockets, so many requests never mean many SSH sessions.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { lazyBuiltin } from '../builtin.js';

/** ssh with piped stdio (child_process is loaded on first use). */
function spawnSsh(command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams {
  return lazyBuiltin.childProcess().spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
}

export interface SshTarget {
  user?: string;
  host: string;
  port?: number;
}

/** Parses ssh://[user@]host[:port] (no path: the remote engine is the remote CLI's default). */
export function parseSshHost(url: string): SshTarget | undefined {
  const m = /^ssh:\/\/(?:([^@/:]+)@)?(\[[^\]]+\]|[^/:@]+)(?::(\d+))?\/?$/.exec(url);
  if (!m) return undefined;
  return { ...(m[1] ? { user: m[1] } : {}), host: m[2]!.replace(/^\[|\]$/g, ''), ...(m[3] ? { port: Number(m[3]) } : {}) };
}

function sshError(label: string, stderr: string, code: number | null): Error {
  const why = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' ') || `ssh exited with status ${code}`;
  return Object.assign(new Error(`${label}: ${why}`), { code: 'ESSH' });
}

/** A socket-like Duplex over an ssh process's stdin/stdout, as node:http expects of a connection. */
class SshChannel extends Duplex {
  readonly connecting = false;
  private child: ChildProcessWithoutNullStreams | undefined;
  private stderr = '';
  private received = false;

  constructor(start: Promise<ChildProcessWithoutNullStreams>, private readonly label: string) {
    super({ allowHalfOpen: true });
    start.then(
      (child) => this.attach(child),
      (err: Error) => this.destroy(err),
    );
  }

  private attach(child: ChildProcessWithoutNullStreams): void {
    if (this.destroyed) {
      child.kill();
      return;
    }
    this.child = child;
    child.stdout.on('data', (chunk: Buffer) => {
      this.received = true;
      if (!this.push(chunk)) child.stdout.pause();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += chunk.toString('utf8');
    });
    child.on('error', (err) => this.destroy(Object.assign(new Error(`${this.label}: ${err.message}`), { code: 'ESSH', cause: err })));
    // End the readable side only once ssh has exited, so its error (if any) is what the caller sees.
    child.on('close', (code) => {
      if (this.destroyed) return;
      if (code !== 0 && code !== null && !this.received) this.destroy(sshError(this.label, this.stderr, code));
      else this.push(null);
    });
    this.emit('ready');
  }

  private whenReady(fn: (child: ChildProcessWithoutNullStreams) => void): void {
    if (this.child) fn(this.child);
    else this.once('ready', () => fn(this.child!));
  }

  override _read(): void {
    this.child?.stdout.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.whenReady((child) => child.stdin.write(chunk, callback));
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.whenReady((child) => child.stdin.end(callback));
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const child = this.child;
    if (child) {
      child.stdin.destroy();
      child.stdout.destroy();
      if (child.exitCode === null) child.kill();
    }
    callback(err);
  }

  // What node:http's agent calls on a socket.
  setKeepAlive(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setTimeout(_ms: number, callback?: () => void): this {
    if (callback) this.once('timeout', callback);
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

/** How long the shared connection outlives its last channel (it also ends with close()). */
const PERSIST_SECONDS = 600;

/** Opens dial-stdio channels to one remote over one shared SSH connection. */
export class SshDialer {
  private readonly controlDir = mkdtempSync(join(tmpdir(), 'dockhand-ssh-'));
  private readonly label: string;
  private master: Promise<void> | undefined;

  constructor(
    private readonly target: SshTarget,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly sshCommand = 'ssh',
  ) {
    this.label = `ssh://${target.user ? `${target.user}@` : ''}${target.host}${target.port ? `:${target.port}` : ''}`;
  }

  private args(...extra: string[]): string[] {
    return [
      '-o', `ControlPath=${join(this.controlDir, 'cm')}`,
      '-o', 'BatchMode=yes',
      ...extra,
      ...(this.target.port ? ['-p', String(this.target.port)] : []),
      ...(this.target.user ? ['-l', this.target.user] : []),
      '--', this.target.host,
    ];
  }

  private run(args: string[]): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawnSsh(this.sshCommand, args, this.env);
      child.stdin.end();
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      child.on('error', (err) => resolve({ code: 255, stderr: err.message }));
      child.on('close', (code) => resolve({ code, stderr }));
    });
  }

  /** Starts the shared connection once (ssh -f returns when it is authenticated). */
  private ensureMaster(): Promise<void> {
    this.master ??= this.run(this.args('-f', '-N', '-o', 'ControlMaster=yes', '-o', `ControlPersist=${PERSIST_SECONDS}`)).then(({ code, stderr }) => {
      if (code !== 0) {
        this.master = undefined; // try again on the next connection
        throw sshError(this.label, stderr, code);
      }
    });
    return this.master;
  }

  /** A new channel running `docker system dial-stdio` on the remote, over the shared connection. */
  connect(): Duplex {
    const start = this.ensureMaster().then(() =>
      // `auto`: should the shared connection have ended (idle too long), this channel starts a new one.
      spawnSsh(this.sshCommand, [...this.args('-o', 'ControlMaster=auto', '-o', `ControlPersist=${PERSIST_SECONDS}`), 'docker', 'system', 'dial-stdio'], this.env),
    );
    return new SshChannel(start, this.label);
  }

  /** Ends the shared SSH connection and removes its control socket. */
  async close(): Promise<void> {
    if (this.master) {
      await this.master.catch(() => undefined);
      await this.run(this.args('-O', 'exit'));
    }
    rmSync(this.controlDir, { recursive: true, force: true });
  }
}
