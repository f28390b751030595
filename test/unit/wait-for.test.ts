/** containers.waitFor without an engine: where published ports are reached, and input checks. */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import type { OperationContext } from '../../src/operations/context.js';
import { publishedHost, remoteEngineHost, waitFor } from '../../src/operations/wait-for.js';

describe('waitFor: the host a published port is reached on', () => {
  it('follows the engine address', () => {
    expect(remoteEngineHost('unix:///var/run/docker.sock')).toBeUndefined();
    expect(remoteEngineHost('tcp://10.0.0.5:2376')).toBe('10.0.0.5');
    expect(remoteEngineHost('ssh://me@build.example:2222')).toBe('build.example');
    expect(remoteEngineHost('https://[fd00::1]:2376')).toBe('fd00::1');
    expect(publishedHost({ HostIp: '0.0.0.0', HostPort: '1' }, 'unix:///var/run/docker.sock')).toBe('127.0.0.1');
    expect(publishedHost({ HostIp: '', HostPort: '1' }, undefined)).toBe('127.0.0.1');
    expect(publishedHost({ HostIp: '::', HostPort: '1' }, 'unix:///x')).toBe('::1');
    expect(publishedHost({ HostIp: '192.168.1.4', HostPort: '1' }, 'unix:///x')).toBe('192.168.1.4');
    expect(publishedHost({ HostIp: '0.0.0.0', HostPort: '1' }, 'tcp://10.0.0.5:2375')).toBe('10.0.0.5');
    expect(publishedHost({ HostIp: '127.0.0.1', HostPort: '1' }, 'tcp://10.0.0.5:2375')).toBe('10.0.0.5');
    expect(publishedHost({ HostIp: '10.1.1.1', HostPort: '1' }, 'tcp://10.0.0.5:2375')).toBe('10.1.1.1');
  });
});

describe('waitFor: input', () => {
  const calls: string[] = [];
  const ctx: OperationContext = {
    call: ((id: string) => {
      calls.push(id);
      return Promise.reject(new Error('no engine'));
    }) as OperationContext['call'],
    apiVersion: () => Promise.resolve('1.41'),
    isPodman: () => Promise.resolve(false),
  };

  it.each([
    [{ port: 0 }, /port must be a container port/],
    [{ port: '80/udp' }, /only TCP ports/],
    [{ log: 5 }, /log must be a RegExp/],
    [{ log: 'x', times: 0 }, /times must be a whole number/],
    [{ log: 'x', stream: 'stdin' }, /stream must be 'stdout' or 'stderr'/],
    [{ exited: false }, /exited must be true/],
    [{ http: { port: 80, path: 'no-slash' } }, /path must be a path/],
    [{ http: { port: 80, status: 42 } }, /status must be a status code/],
    [{ log: 'x', port: 80 }, /exactly one of/],
    ['stopped', /must be 'running', 'healthy'/],
  ])('refuses %j before calling the engine', async (condition, message) => {
    calls.length = 0;
    const err = await (waitFor(ctx, 'c1', condition as never) as Promise<unknown>).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(message);
    expect(calls).toEqual([]);
  });

  it('names the array element at fault, and checks the options', async () => {
    await expect(waitFor(ctx, 'c1', ['running', { port: 'x' }] as never)).rejects.toMatchObject({ parameter: 'conditions[1].port' });
    await expect(waitFor(ctx, 'c1', 'running', { timeout: -1 })).rejects.toThrow(/timeout must be/);
    await expect(waitFor(ctx, 'c1', 'running', { logTail: 5000 })).rejects.toThrow(/logTail must be/);
    await expect(waitFor(ctx, '', 'running')).rejects.toThrow(/id must be/);
  });
});
