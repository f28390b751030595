/** An OperationContext for unit tests of hand-written operations: calls go to a plain handler. */
import type { OperationContext } from '../../src/operations/context.js';

export function fakeContext(call: (operationId: string, params: Record<string, unknown>) => Promise<unknown>): OperationContext {
  return {
    // tests script any answer for any operation: the typed signature is the client's to keep
    call: ((id: string, params: Record<string, unknown>) => call(id, params)) as OperationContext['call'],
    apiVersion: async () => '1.41',
    isPodman: async () => false,
  };
}
