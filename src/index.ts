/** dockhand's public API: everything a user imports comes from here. */
export { Docker, type DockerOptions, type EndpointInfo } from './client.js';
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
  type ConnectionAttempt,
  DOCKER_ERROR_CODES,
  MAX_ERROR_MESSAGE,
  type DockerErrorCode,
  type DockerErrorDetails,
} from './errors.js';
export { StreamError, StreamFormatError, FrameParser, demux, type Frame, type StreamName } from './streams/demux.js';
export { JsonMessageParser, jsonMessages } from './streams/json-stream.js';
export { FrameStream, type CollectedOutput } from './streams/frames.js';
export { JsonStream } from './streams/json-iterable.js';
export { ProgressStream, ProgressModel, type ProgressMessage, type ProgressResult, type LayerProgress, type ProgressOptions } from './streams/progress.js';
export { HijackSession, type TerminalSize } from './streams/session.js';
export { LineSplitter, frameLines, DEFAULT_MAX_LINE_LENGTH, type Line, type LinesOptions } from './streams/lines.js';
export {
  WaitError,
  type WaitCondition,
  type WaitForOptions,
  type WaitResult,
  type WaitResults,
  type LogCondition,
  type ExitedCondition,
  type PortCondition,
  type HttpCondition,
  type LogMatch,
  type PortResult,
  type HttpResult,
  type ContainerPort,
  type ContainerStateInfo,
} from './operations/wait-for.js';
export { ServiceConvergeError, type ConvergeOptions, type ConvergeProgress, type ConvergeFailure, type FailedTask, type SpecUpdate, type UpdateSpecParams } from './operations/swarm.js';
export type { ContainersGroup, DockerGroups, ExecGroup, ImagesGroup, PluginsGroup, ServicesGroup, SystemGroup, TasksGroup } from './operations/groups.js';
export type { ExecOptions, ExecResult } from './operations/exec.js';
export type { RunOptions, RunDetachedOptions, RunResult, RunOutput, PortPublish, ContainerCreateBody } from './operations/run.js';
export type {
  ContainerHandle,
  ImageHandle,
  NetworkHandle,
  VolumeHandle,
  ServiceHandle,
  NodeHandle,
  SecretHandle,
  ConfigHandle,
  PluginHandle,
  TaskHandle,
  ExecHandle,
  BoundMethods,
  DropFirst,
  HandleName,
} from './operations/handles.js';
export type { LogsParams, SwarmLogsParams } from './operations/logs.js';
export type { EventsParams } from './operations/monitor.js';
export type { PullParams, PushParams, ImportParams, ProgressCallOptions, LoadFile, SaveParams } from './operations/images.js';
export type { AttachParams, ExecStartConfig } from './operations/attach.js';
export type { TimeInput } from './operations/time.js';
export type { PathStat, PutArchiveOptions } from './operations/archive.js';
export type { BuildMessage, BuildOptions, BuildResult } from './operations/build.js';
export type { BuildkitBuildOptions, BuildkitEvent, BuildkitOutput, BuildkitSecret, BuildkitVertex } from './buildkit/types.js';
export { MIN_API_VERSION, MAX_API_VERSION, compareVersions } from './version.js';
export type { CallOptions, Filters, HijackedConnection, RegistryAuth, ResponseHeaders, ResponseStream, StateChange, UploadBody } from './request/types.js';
export type { OperationSpec, ParamSpec, ParamLocation, ResponseKind } from './request/operation.js';
export type { Transport, TransportRequest, TransportResponse, UpgradeResult, RequestBody, WholeLimits, WholeResponse } from './transport/types.js';
export type { TransportKind } from './transport/create.js';
export type { TlsOptions } from './transport/host.js';
export { OPERATIONS, OPERATION_ALIASES, API_VERSIONS, type OperationId, type OperationAlias } from './generated/operations.js';
export type * from './generated/api.js';
export type * from './generated/friendly.js';
export type * from './generated/types.js';
