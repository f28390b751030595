/**
 * ssh://[user@]host[:port]: each connection is the system `ssh` running `docker system dial-stdio`
 * on the remote, so ~/.ssh/config, the agent and known_hosts apply. Connections are kept alive
 * and pooled like any other, and all of them share one SSH connection (ControlMaster), so many
 * requests never mean many SSH sessions.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';

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

/** A socket-like Duplex over an ssh process's stdin/stdout, as node:http expects of a connection. */
class SshStdioSocket extends Duplex {
  readonly connecting = false;
  readonly remoteAddress: string;
  private stderr = '';

  constructor(private readonly child: ChildProcessWithoutNullStreams, label: string) {
    super({ allowHalfOpen: true });
    this.remoteAddress = label;
    child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout.pause();
    });
    child.stdout.on('end', () => this.push(null));
    child.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += chunk.toString('utf8');
    });
    child.on('error', (err) => this.destroy(Object.assign(new Error(`ssh: ${err.message}`), { code: 'ESSH', cause: err })));
    child.on('exit', (code) => {
      if (code !== 0 && code !== null && !this.destroyed) {
        const why = this.stderr.trim().split('\n').slice(-3).join(' ') || `ssh exited with status ${code}`;
        this.destroy(Object.assign(new Error(`ssh ${label}: ${why}`), { code: 'ESSH' }));
      }
    });
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.child.stdin.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin.end(callback);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.child.stdin.destroy();
    this.child.stdout.destroy();
    if (this.child.exitCode === null) this.child.kill();
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

/** Opens dial-stdio channels to one remote over a shared SSH connection. */
export class SshDialer {
  private readonly controlDir = mkdtempSync(join(tmpdir(), 'dockhand-ssh-'));
  private readonly label: string;

  constructor(private readonly target: SshTarget, private readonly sshCommand = 'ssh') {
    this.label = `ssh://${target.user ? `${target.user}@` : ''}${target.host}${target.port ? `:${target.port}` : ''}`;
  }

  private baseArgs(): string[] {
    return [
      '-o', 'ControlMaster=auto',
      '-o', `ControlPath=${join(this.controlDir, 'cm')}`,
      '-o', 'ControlPersist=30',
      '-o', 'BatchMode=yes',
      ...(this.target.port ? ['-p', String(this.target.port)] : []),
      ...(this.target.user ? ['-l', this.target.user] : []),
      '--', this.target.host,
    ];
  }

  /** A new channel running `docker system dial-stdio` on the remote. */
  connect(): Duplex {
    const child = spawn(this.sshCommand, [...this.baseArgs(), 'docker', 'system', 'dial-stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new SshStdioSocket(child, this.label);
  }

  /** Ends the shared SSH connection and removes its control socket. */
  close(): void {
    spawnSync(this.sshCommand, ['-O', 'exit', ...this.baseArgs()], { stdio: 'ignore', timeout: 5000 });
    rmSync(this.controlDir, { recursive: true, force: true });
  }
}
