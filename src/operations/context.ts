/** What hand-written operations get from the client: the call pipeline and the version in use. */
import type { Api } from '../generated/api.js';
import type { CallOptions } from '../request/types.js';

/** An operationId of the API (aliases included). */
export type OperationName = keyof Api;
/** Headers dockhand fills in from the credential store when a call gives none. */
type CredentialHeader = 'X-Registry-Auth' | 'X-Registry-Config';

/**
 * The params object of an operation, as `docker.api.<id>` takes it, but with the credential
 * headers optional: the requester adds the stored credentials after validation.
 */
export type ParamsOf<K extends OperationName> = CredentialsOptional<NonNullable<Parameters<Api[K]>[0]>>;
type CredentialsOptional<P> = Omit<P, CredentialHeader> & Partial<Pick<P, Extract<keyof P, CredentialHeader>>>;
/** What an operation resolves to. */
export type ResultOf<K extends OperationName> = Awaited<ReturnType<Api[K]>>;

export interface OperationContext {
  /** Calls an operation by operationId, with validation, version gates and status checks. */
  call<K extends OperationName>(operationId: K, params: ParamsOf<K>, options?: CallOptions): Promise<ResultOf<K>>;
  /** The API version in use (negotiated once). */
  apiVersion(options?: CallOptions): Promise<string>;
  /** Whether the engine is Podman (from its /_ping answer, asked once). */
  isPodman(options?: CallOptions): Promise<boolean>;
  /**
   * The engine's address (`unix:///…`, `tcp://host:port`, `ssh://…`): where published ports are
   * (containers.waitFor). Optional: without it, ports are looked for on this machine.
   */
  address?(): Promise<string>;
  /** The client's `builder` option: the builder of `images.build` calls that name none. */
  defaultBuilder?: 'classic' | 'buildkit' | 'auto';
}
