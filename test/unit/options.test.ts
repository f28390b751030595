import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Docker, ValidationError } from '../../src/index.js';
import { closestName, MAX_TIMEOUT, validateCallOptions, validateDockerOptions } from '../../src/config/options.js';
import { toUnixSeconds } from '../../src/operations/time.js';
import { FakeTransport, json } from '../support/fake-transport.js';

function refused(fn: () => unknown): ValidationError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ValidationError);
  return caught as ValidationError;
}

describe('client options', () => {
  const transport = () => new FakeTransport(() => json({}));

  it('accepts every option with a value of the right type', () => {
    const options = {
      host: 'unix:///var/run/docker.sock',
      context: 'remote',
      apiVersion: '1.41',
      tls: { ca: ['a', Buffer.from('b')], cert: 'c', key: Buffer.from('k'), rejectUnauthorized: false, servername: 'x' },
      timeout: 0,
      connectTimeout: MAX_TIMEOUT,
      transport: 'undici',
      credentials: false,
      maxConnections: 8,
      maxStreams: Infinity,
      maxJsonBody: 1024,
      env: { DOCKER_HOST: 'tcp://h', UNSET: undefined },
    };
    expect(validateDockerOptions(options)).toBe(options);
    expect(validateDockerOptions(undefined)).toEqual({});
    expect(validateDockerOptions({ env: process.env, transport: transport(), host: undefined })).toBeTruthy();
    expect(() => new Docker({ transport: transport(), apiVersion: '1.41', timeout: 1000 })).not.toThrow();
  });

  const wrong: Array<[string, unknown, RegExp]> = [
    ['apiVersion', 1.41, /option "apiVersion" must be a non-empty string, not number 1\.41/],
    ['apiVersion', null, /"apiVersion" must be a non-empty string, not null/],
    ['apiVersion', '', /"apiVersion" must be a non-empty string, not string ""/],
    ['host', 123, /"host" must be a non-empty string, not number 123/],
    ['context', {}, /"context" must be a non-empty string, not an object/],
    ['tls', 'yes', /"tls" must be an object/],
    ['tls', { key: 42 }, /"tls" field "key" must be a PEM string or a Buffer, not a number \(value not shown/],
    ['tls', { rejectUnauthorized: 'false' }, /field "rejectUnauthorized" must be a boolean/],
    ['timeout', '1000', /"timeout" must be a number of milliseconds from 0 to 2147483647 \(the longest delay setTimeout takes/],
    ['timeout', -1, /"timeout" must be a number of milliseconds .* not number -1/],
    ['timeout', Infinity, /"timeout" must be a number of milliseconds .* not number Infinity/],
    ['timeout', NaN, /not number NaN/],
    ['connectTimeout', 2 ** 31, /"connectTimeout" must be a number of milliseconds from 0 to 2147483647/],
    ['transport', 'carrier-pigeon', /"transport" must be 'auto', 'node', 'undici' or a Transport/],
    ['transport', { request() {} }, /this object lacks upgrade, close/],
    ['credentials', true, /"credentials" can only be false/],
    ['credentials', 'S3cr3t', /"credentials" can only be false/],
    ['env', 'x', /"env" must be an object of strings/],
    ['env', { A: 1 }, /"env" must be an object of strings .*: "A" is a number/],
    ['env', ['A=1'], /"env" must be an object of strings.*not an array/],
    ['maxConnections', 0, /"maxConnections" must be an integer >= 1, not number 0/],
    ['maxConnections', 1.5, /"maxConnections" must be an integer >= 1/],
    ['maxConnections', Infinity, /"maxConnections" must be an integer >= 1, not number Infinity/],
    ['maxStreams', 0, /"maxStreams" must be an integer >= 1 \(or Infinity\)/],
    ['maxStreams', '10', /"maxStreams" must be an integer/],
    ['maxJsonBody', -5, /"maxJsonBody" must be an integer >= 1/],
  ];
  for (const [name, value, message] of wrong) {
    it(`refuses ${name}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}, naming it`, () => {
      const err = refused(() => new Docker({ [name]: value } as never));
      expect(err.parameter).toBe(name);
      expect(err.code).toBe('VALIDATION');
      expect(err.message).toMatch(message);
      expect(err.message).not.toMatch(/is not a function|Cannot read/);
    });
  }

  it('never shows a credential-like value', () => {
    expect(refused(() => validateDockerOptions({ credentials: 'S3cr3tP@ss' })).message).not.toContain('S3cr3tP@ss');
    expect(refused(() => validateDockerOptions({ env: { DOCKER_PASS: 12345678 } })).message).not.toContain('12345678');
    expect(refused(() => validateDockerOptions({ tls: { key: 987654321 } })).message).not.toContain('987654321');
  });

  it('refuses options that are not an object', () => {
    for (const value of [null, 'unix:///var/run/docker.sock', 3, [], new Map()]) {
      const err = refused(() => validateDockerOptions(value));
      expect(err.parameter).toBe('options');
      expect(err.message).toMatch(/^the client options must be an object, not /);
    }
    expect(refused(() => new Docker(null as never)).parameter).toBe('options');
  });

  it('refuses unknown option names, suggesting the closest known one', () => {
    const typo = refused(() => new Docker({ timout: 1000 } as never));
    expect(typo.parameter).toBe('timout');
    expect(typo.message).toBe('unknown option "timout" (did you mean timeout?)');
    expect(refused(() => validateDockerOptions({ apiversion: '1.41' })).message).toMatch(/did you mean apiVersion\?/);
    expect(refused(() => validateDockerOptions({ hots: 'x' })).message).toMatch(/did you mean host\?/);
    expect(refused(() => validateDockerOptions({ maxConnection: 3 })).message).toMatch(/did you mean maxConnections\?/);
    const far = refused(() => validateDockerOptions({ colour: 'blue' }));
    expect(far.message).toMatch(/^unknown option "colour" \(known: host, context, apiVersion, tls, timeout, connectTimeout, transport, credentials, maxConnections, maxStreams, maxJsonBody, env, validate, builder\)$/);
  });

  it('finds close names only', () => {
    expect(closestName('signl', ['signal', 'timeout'])).toBe('signal');
    expect(closestName('tiemout', ['signal', 'timeout'])).toBe('timeout');
    expect(closestName('x', ['signal', 'timeout'])).toBeUndefined();
    expect(closestName('headrs', ['headers', 'host'])).toBe('headers');
  });
});

describe('call options', () => {
  it('accepts the known options', () => {
    const options = { signal: AbortSignal.abort(), timeout: 50, idleTimeout: 0, headers: { 'x-a': 'b' } };
    expect(validateCallOptions('ContainerList', options)).toBe(options);
    expect(validateCallOptions('ContainerList', undefined)).toBeUndefined();
    expect(validateCallOptions('ContainerList', {})).toEqual({});
    expect(validateCallOptions('ContainerList', { signal: new AbortController().signal, timeout: undefined })).toBeTruthy();
    // a signal from another realm or library: aborted + addEventListener
    const foreign = { aborted: false, addEventListener() {}, removeEventListener() {} };
    expect(validateCallOptions('ContainerList', { signal: foreign })).toBeTruthy();
  });

  const wrong: Array<[string, unknown, RegExp]> = [
    ['signal', 'x', /^ContainerList: option "signal" must be an AbortSignal, not string "x"$/],
    ['signal', { aborted: 'no', addEventListener() {} }, /must be an AbortSignal, not an object/],
    ['timeout', '1000', /^ContainerList: option "timeout" must be a number of milliseconds from 0 to 2147483647/],
    ['timeout', -1, /"timeout" must be a number of milliseconds/],
    ['timeout', Infinity, /setTimeout/],
    ['idleTimeout', 2 ** 31, /"idleTimeout" must be a number of milliseconds from 0 to 2147483647/],
    ['idleTimeout', null, /"idleTimeout" must be a number .* not null/],
    ['headers', 'x-a: b', /"headers" must be an object of strings/],
    ['headers', { 'x-a': 1 }, /"headers" must be an object of strings: "x-a" is a number/],
    ['headers', { 'X-Registry-Auth': { password: 'S3cr3t' } }, /"X-Registry-Auth" is an object/],
  ];
  for (const [name, value, message] of wrong) {
    it(`refuses ${name}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`, () => {
      const err = refused(() => validateCallOptions('ContainerList', { [name]: value }));
      expect(err).toMatchObject({ parameter: name, operationId: 'ContainerList', code: 'VALIDATION' });
      expect(err.message).toMatch(message);
    });
  }

  it('never shows header values', () => {
    const err = refused(() => validateCallOptions('ImagePush', { headers: { authorization: 424242424242 } }));
    expect(err.message).not.toContain('424242424242');
  });

  it('refuses unknown names (suggesting the closest) and options that are not an object', () => {
    expect(refused(() => validateCallOptions('ContainerList', { sigal: AbortSignal.abort() })).message).toBe('ContainerList: unknown option "sigal" (did you mean signal?)');
    expect(refused(() => validateCallOptions('ContainerList', { onProgress() {} })).message).toMatch(/unknown option "onProgress" \(known: signal, timeout, idleTimeout, headers\)/);
    for (const value of [null, 5, 'x', [AbortSignal.abort()]]) {
      expect(refused(() => validateCallOptions('ContainerList', value))).toMatchObject({ parameter: 'options', operationId: 'ContainerList' });
    }
  });
});

describe('times (since, until)', () => {
  const NOW = Date.UTC(2023, 10, 14, 22, 13, 20, 500); // 1700000000.5

  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps Dates and numbers as before: whole seconds, or milliseconds as a fraction', () => {
    expect(toUnixSeconds(new Date(1_700_000_000_123), 'since')).toBe(1_700_000_000);
    expect(toUnixSeconds(new Date(1_700_000_000_123), 'since', true)).toBe('1700000000.123');
    expect(toUnixSeconds(1_700_000_000, 'since')).toBe(1_700_000_000);
    expect(toUnixSeconds(1_700_000_000.5, 'since')).toBe(1_700_000_000);
    expect(toUnixSeconds(1_700_000_000.5, 'since', true)).toBe(1_700_000_000.5);
    expect(toUnixSeconds(0, 'since')).toBe(0);
    expect(toUnixSeconds(undefined, 'since')).toBeUndefined();
  });

  it('takes unix timestamps as strings', () => {
    expect(toUnixSeconds('1700000000', 'since')).toBe(1_700_000_000);
    expect(toUnixSeconds('1700000000.123', 'since')).toBe(1_700_000_000);
    expect(toUnixSeconds('1700000000.123', 'since', true)).toBe('1700000000.123');
    expect(toUnixSeconds('1700000000.123456789', 'until', true)).toBe('1700000000.123456789');
    expect(toUnixSeconds('0', 'since')).toBe(0);
  });

  it('takes Go durations as that long ago', () => {
    const ago = (ms: number) => Math.floor((NOW - ms) / 1000);
    expect(toUnixSeconds('10m', 'since')).toBe(ago(600_000));
    expect(toUnixSeconds('1h30m', 'since')).toBe(ago(5_400_000));
    expect(toUnixSeconds('1.5h', 'since')).toBe(ago(5_400_000));
    expect(toUnixSeconds('2h45m10s', 'since')).toBe(ago(9_910_000));
    expect(toUnixSeconds('300ms', 'since', true)).toBe('1700000000.200');
    expect(toUnixSeconds('1500us', 'since', true)).toBe('1700000000.498500000');
    expect(toUnixSeconds('1500µs', 'since', true)).toBe('1700000000.498500000');
    expect(toUnixSeconds('2000000ns', 'since', true)).toBe('1700000000.498');
    expect(toUnixSeconds('0s', 'since')).toBe(1_700_000_000);
    expect(toUnixSeconds('.5s', 'since', true)).toBe('1700000000.000');
    expect(toUnixSeconds('-1h', 'until')).toBe(ago(-3_600_000)); // Go's negative duration: from now on
    expect(toUnixSeconds(' 10s ', 'since')).toBe(ago(10_000));
  });

  it('takes RFC 3339 timestamps and their shorter date forms', () => {
    expect(toUnixSeconds('2023-11-14T22:13:20Z', 'since')).toBe(1_700_000_000);
    expect(toUnixSeconds('2023-11-14T22:13:20z', 'since')).toBe(1_700_000_000);
    expect(toUnixSeconds('2023-11-14T22:13:20.25Z', 'since', true)).toBe('1700000000.250');
    expect(toUnixSeconds('2023-11-14T22:13:20.123456789Z', 'since', true)).toBe('1700000000.123456789');
    expect(toUnixSeconds('2023-11-14T23:13:20+01:00', 'since')).toBe(1_700_000_000);
    expect(toUnixSeconds('2023-11-14T17:43:20-04:30', 'since')).toBe(1_700_000_000);
    expect(toUnixSeconds('2023-11-14T22:13Z', 'since')).toBe(1_700_000_000 - 20);
    expect(toUnixSeconds('2023-11-14T22Z', 'since')).toBe(1_700_000_000 - 13 * 60 - 20);
    expect(toUnixSeconds('2023-11-14Z', 'since')).toBe(Date.UTC(2023, 10, 14) / 1000);
    expect(toUnixSeconds('2023-11-14+02:00', 'since')).toBe(Date.UTC(2023, 10, 14) / 1000 - 7200);
    // without a zone: local time, as the docker CLI
    expect(toUnixSeconds('2023-11-14T22:13:20', 'since')).toBe(new Date(2023, 10, 14, 22, 13, 20).getTime() / 1000);
    expect(toUnixSeconds('2023-11-14', 'since')).toBe(new Date(2023, 10, 14).getTime() / 1000);
    expect(toUnixSeconds('2023-11-14T08:30', 'until', true)).toBe(`${new Date(2023, 10, 14, 8, 30).getTime() / 1000}.000`);
    expect(toUnixSeconds('2024-02-29T00:00:00Z', 'since')).toBe(Date.UTC(2024, 1, 29) / 1000);
  });

  const bad: Array<[unknown, RegExp]> = [
    ['10 minutes', /is not a time: string "10 minutes"/],
    ['yesterday', /is not a time/],
    ['10', /^$/], // a unix timestamp: fine (checked below)
    ['1h30', /is not a time/],
    ['10mm', /is not a time/],
    ['1d', /is not a time/],
    ['-1700000000', /is not a time/],
    ['1700000000.1234567891', /is not a time/],
    ['2023-13-01', /is not a valid date or time/],
    ['2023-02-29', /is not a valid date or time/],
    ['2023-11-14T24:00:00Z', /is not a valid date or time/],
    ['2023-11-14T22:13:20+25:00', /is not a valid date or time/],
    ['2023-11-14 22:13:20', /is not a time/],
    ['', /is not a time/],
    [-1, /must be a finite number of seconds >= 0, not number -1/],
    [NaN, /not number NaN/],
    [Infinity, /not number Infinity/],
    [new Date(NaN), /is an invalid Date/],
    [new Date(-1000), /is before 1970/],
    ['1969-12-31T23:59:59Z', /is before 1970/],
    [true, /must be a time, not boolean true/],
    [{}, /must be a time, not an object/],
  ];
  for (const [value, message] of bad) {
    if (value === '10') continue;
    it(`refuses ${typeof value === 'string' ? JSON.stringify(value) : String(value)}, naming the parameter and the accepted forms`, () => {
      const err = refused(() => toUnixSeconds(value as never, 'since'));
      expect(err.parameter).toBe('since');
      expect(err.message).toMatch(message);
      expect(err.message).toMatch(/^since /);
      expect(err.message).toMatch(/RFC 3339.*'10m'.*units ns, us, µs, ms, s, m, h/);
    });
  }

  it('refuses a bad time in logs and events before anything is sent', async () => {
    const transport = new FakeTransport(() => ({ status: 200, body: '' }));
    const docker = new Docker({ transport, apiVersion: '1.41' });
    // logs checks its parameters when called (as for an invalid Date), events when the stream starts
    expect(() => docker.containers.logs('c', { since: '10 minutes' })).toThrow(expect.objectContaining({ code: 'VALIDATION', parameter: 'since' }));
    await expect(docker.system.events({ until: 'soon' }).toArray()).rejects.toMatchObject({ code: 'VALIDATION', parameter: 'until' });
    expect(transport.requests).toHaveLength(0);
  });

  it('sends converted times to the engine', async () => {
    const transport = new FakeTransport(() => ({ status: 200, body: '' }));
    const docker = new Docker({ transport, apiVersion: '1.41' });
    await docker.system.events({ since: '10m', until: '2023-11-14T22:13:20Z' }).toArray();
    const query = new URL(transport.requests[0]!.path, 'http://x').searchParams;
    expect(query.get('since')).toBe('1699999400.500');
    expect(query.get('until')).toBe('1700000000.000');
  });
});
