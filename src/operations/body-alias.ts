/**
 * One name for every JSON body in the friendly groups: `body`, as well as the spec's own name
 * (`networkConfig`, `execConfig`, `volumeConfig`, `container`, `update`, ...). The generated
 * friendly types (`BodyAlias`) accept either; this renames `body` to the spec's name before the call.
 */
import { ValidationError } from '../errors.js';
import { OPERATIONS, type OperationId } from '../generated/operations.js';

/** The spec's name of an operation's JSON body, when it is not `body`. */
export function bodyAliasOf(id: OperationId): string | undefined {
  return OPERATIONS[id].params.find((p) => p.in === 'body' && p.type === 'object' && p.name !== 'body')?.name;
}

/**
 * Renames `params.body` to `specName` in place (params is the friendly method's own copy).
 * Both names given is a ValidationError: which one was meant is not for dockhand to guess.
 */
export function applyBodyAlias(params: Record<string, unknown>, specName: string, method: string, id: OperationId): void {
  if (!Object.hasOwn(params, 'body')) return;
  if (Object.hasOwn(params, specName) && params[specName] !== undefined && params.body !== undefined) {
    throw new ValidationError(`${method}: give the body as \`body\` or as \`${specName}\`, not both`, { operationId: id, parameter: 'body' });
  }
  const { body } = params;
  delete params.body;
  if (body !== undefined) params[specName] = body;
}
