/** Assertions on how engines answer a registry's refusal (they differ by version). */
import { expect } from 'vitest';
import { NotFoundError, ServerError, UnauthorizedError } from '../../src/index.js';
import { REGISTRY_STATUS_PASSED_ON } from './engine.js';

/**
 * Asserts the engine's answer to a registry's refusal (`passedOn`: the registry's 401 or 404):
 * that status with its class on 28.5, a ServerError 500 of the engine's own before.
 */
export function expectRegistryRefusal(err: unknown, operationId: string, passedOn: 401 | 404): void {
  if (REGISTRY_STATUS_PASSED_ON) {
    expect(err).toBeInstanceOf(passedOn === 401 ? UnauthorizedError : NotFoundError);
    expect(err).toMatchObject({ code: passedOn === 401 ? 'UNAUTHORIZED' : 'NOT_FOUND', statusCode: passedOn, operationId });
  } else {
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ code: 'SERVER_ERROR', statusCode: 500, operationId });
  }
}
