/** What hand-written operations get from the client: the call pipeline and the version in use. */
import type { CallOptions } from '../request/types.js';

export interface OperationContext {
  /** Calls an operation by operationId, with validation, version gates and status checks. */
  call(operationId: string, params: Record<string, unknown>, options?: CallOptions): Promise<unknown>;
  /** The API version in use (negotiated once). */
  apiVersion(options?: CallOptions): Promise<string>;
  /** Whether the engine is Podman (from its /_ping answer, asked once). */
  isPodman(options?: CallOptions): Promise<boolean>;
}
