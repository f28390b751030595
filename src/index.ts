/** dockhand's public API: everything a user imports comes from here. */
export { Docker, type DockerOptions } from './client.js';
export {
  DockerError,
  BadRequestError,
  UnauthorizedError,
  ForbiddenError,
  NotFoundError,
  ConflictError,
  ServerError,
  ConnectionError,
  ApiVersionError,
  ValidationError,
  AbortError,
  type DockerErrorDetails,
} from './errors.js';
export { MIN_API_VERSION, MAX_API_VERSION, compareVersions } from './version.js';
export type { CallOptions, Filters, HijackedConnection, ResponseHeaders, ResponseStream, StateChange, UploadBody } from './request/types.js';
export type { OperationSpec, ParamSpec, ResponseKind } from './request/operation.js';
export type { Transport, TransportRequest, TransportResponse, UpgradeResult } from './transport/types.js';
export type { TlsOptions } from './transport/host.js';
export { OPERATIONS, OPERATION_ALIASES, API_VERSIONS, type OperationId, type OperationAlias } from './generated/operations.js';
export type * from './generated/api.js';
export type * from './generated/friendly.js';
export type * from './generated/types.js';
