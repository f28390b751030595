/**
 * The body validator leaves out the own-key check for plain objects (a cost measured in
 * bench/README.md): inherited keys must still never count, whatever the prototype, and also after
 * something made an enumerable property on Object.prototype.
 */
import { describe, expect, it } from 'vitest';
import { Docker, ValidationError } from '../../src/index.js';
import { FakeTransport, json } from '../support/fake-transport.js';

function client() {
  const transport = new FakeTransport(() => json({ Id: 'x', Warnings: [] }, 201));
  return { transport, docker: new Docker({ transport, apiVersion: '1.41', env: {} }) };
}

describe('body validation: which keys of an object are checked', () => {
  it('checks only own keys of objects with another prototype, in types and in maps', async () => {
    const { transport, docker } = client();
    const body = Object.assign(Object.create({ Bogus: 1 }), { Image: 'busybox', Labels: Object.assign(Object.create({ other: 2 }), { a: 'b' }) });
    await docker.containers.create({ body });
    expect(transport.calls).toHaveLength(1);
  });

  it('checks every own key of a null-prototype object', async () => {
    const { transport, docker } = client();
    const body = Object.assign(Object.create(null), { Image: 'busybox', Bogus: 1 });
    await expect(docker.containers.create({ body })).rejects.toThrow(ValidationError);
    await expect(docker.containers.create({ body: { Image: 'busybox', Labels: Object.assign(Object.create(null), { a: 1 }) } })).rejects.toThrow(/body\.Labels\.a must be a string/);
    expect(transport.calls).toHaveLength(0);
  });

  it('ignores an enumerable property made on Object.prototype, and checks own keys after it is gone', async () => {
    const { transport, docker } = client();
    const proto = Object.prototype as Record<string, unknown>;
    Object.defineProperty(proto, 'PollutedField', { value: 1, enumerable: true, configurable: true, writable: true });
    try {
      await docker.containers.create({ body: { Image: 'busybox', Labels: { a: 'b' }, HostConfig: { Memory: 1 } } });
      expect(transport.calls).toHaveLength(1);
    } finally {
      delete proto.PollutedField;
    }
    const unknownField: Record<string, unknown> = { Image: 'busybox', PollutedField: 1 };
    await expect(docker.containers.create({ body: unknownField })).rejects.toThrow(/body\.PollutedField is not a field/);
    expect(transport.calls).toHaveLength(1);
  });
});
