/**
 * The friendly naming table: operationId -> [group, method].
 *
 * Rule: an operationId `<Noun><Verb>` becomes `<nouns>.<verb>` (Container -> containers,
 * Image -> images, ...), with `Delete` spelled `remove` as in the docker CLI. Every id is listed
 * here explicitly, so ids that do not follow the rule (PutContainerArchive, GetPluginPrivileges,
 * SwarmUnlockkey, SystemPingHead, ContainerExec, Session, ...) get a deliberate name, and a new id
 * in a future spec fails the generator until someone names it.
 */
export const friendlyNames: Record<string, readonly [group: string, method: string]> = {
  ContainerList: ['containers', 'list'],
  ContainerCreate: ['containers', 'create'],
  ContainerInspect: ['containers', 'inspect'],
  ContainerTop: ['containers', 'top'],
  ContainerLogs: ['containers', 'logs'],
  ContainerChanges: ['containers', 'changes'],
  ContainerExport: ['containers', 'export'],
  ContainerStats: ['containers', 'stats'],
  ContainerResize: ['containers', 'resize'],
  ContainerStart: ['containers', 'start'],
  ContainerStop: ['containers', 'stop'],
  ContainerRestart: ['containers', 'restart'],
  ContainerKill: ['containers', 'kill'],
  ContainerUpdate: ['containers', 'update'],
  ContainerRename: ['containers', 'rename'],
  ContainerPause: ['containers', 'pause'],
  ContainerUnpause: ['containers', 'unpause'],
  ContainerAttach: ['containers', 'attach'],
  ContainerAttachWebsocket: ['containers', 'attachWebsocket'],
  ContainerWait: ['containers', 'wait'],
  ContainerDelete: ['containers', 'remove'],
  ContainerArchiveInfo: ['containers', 'statPath'],
  ContainerArchive: ['containers', 'getArchive'],
  PutContainerArchive: ['containers', 'putArchive'],
  ContainerPrune: ['containers', 'prune'],

  ContainerExec: ['exec', 'create'],
  ExecStart: ['exec', 'start'],
  ExecResize: ['exec', 'resize'],
  ExecInspect: ['exec', 'inspect'],

  ImageList: ['images', 'list'],
  ImageBuild: ['images', 'build'],
  BuildPrune: ['images', 'pruneBuildCache'],
  BuildCancel: ['images', 'cancelBuild'],
  ImageCreate: ['images', 'create'],
  ImageInspect: ['images', 'inspect'],
  ImageAttestations: ['images', 'attestations'],
  ImageHistory: ['images', 'history'],
  ImagePush: ['images', 'push'],
  ImageTag: ['images', 'tag'],
  ImageDelete: ['images', 'remove'],
  ImageSearch: ['images', 'search'],
  ImagePrune: ['images', 'prune'],
  ImageCommit: ['images', 'commit'],
  ImageGet: ['images', 'get'],
  ImageGetAll: ['images', 'getAll'],
  ImageLoad: ['images', 'load'],

  SystemAuth: ['system', 'auth'],
  SystemInfo: ['system', 'info'],
  SystemVersion: ['system', 'version'],
  SystemPing: ['system', 'ping'],
  SystemPingHead: ['system', 'pingHead'],
  SystemEvents: ['system', 'events'],
  SystemDataUsage: ['system', 'dataUsage'],
  Session: ['system', 'session'],

  VolumeList: ['volumes', 'list'],
  VolumeCreate: ['volumes', 'create'],
  VolumeInspect: ['volumes', 'inspect'],
  VolumeUpdate: ['volumes', 'update'],
  VolumeDelete: ['volumes', 'remove'],
  VolumePrune: ['volumes', 'prune'],

  NetworkList: ['networks', 'list'],
  NetworkInspect: ['networks', 'inspect'],
  NetworkDelete: ['networks', 'remove'],
  NetworkCreate: ['networks', 'create'],
  NetworkConnect: ['networks', 'connect'],
  NetworkDisconnect: ['networks', 'disconnect'],
  NetworkPrune: ['networks', 'prune'],

  PluginList: ['plugins', 'list'],
  GetPluginPrivileges: ['plugins', 'privileges'],
  PluginPull: ['plugins', 'pull'],
  PluginInspect: ['plugins', 'inspect'],
  PluginDelete: ['plugins', 'remove'],
  PluginEnable: ['plugins', 'enable'],
  PluginDisable: ['plugins', 'disable'],
  PluginUpgrade: ['plugins', 'upgrade'],
  PluginCreate: ['plugins', 'create'],
  PluginPush: ['plugins', 'push'],
  PluginSet: ['plugins', 'set'],

  NodeList: ['nodes', 'list'],
  NodeInspect: ['nodes', 'inspect'],
  NodeDelete: ['nodes', 'remove'],
  NodeUpdate: ['nodes', 'update'],

  SwarmInspect: ['swarm', 'inspect'],
  SwarmInit: ['swarm', 'init'],
  SwarmJoin: ['swarm', 'join'],
  SwarmLeave: ['swarm', 'leave'],
  SwarmUpdate: ['swarm', 'update'],
  SwarmUnlockkey: ['swarm', 'unlockKey'],
  SwarmUnlock: ['swarm', 'unlock'],

  ServiceList: ['services', 'list'],
  ServiceCreate: ['services', 'create'],
  ServiceInspect: ['services', 'inspect'],
  ServiceDelete: ['services', 'remove'],
  ServiceUpdate: ['services', 'update'],
  ServiceLogs: ['services', 'logs'],

  TaskList: ['tasks', 'list'],
  TaskInspect: ['tasks', 'inspect'],
  TaskLogs: ['tasks', 'logs'],

  SecretList: ['secrets', 'list'],
  SecretCreate: ['secrets', 'create'],
  SecretInspect: ['secrets', 'inspect'],
  SecretDelete: ['secrets', 'remove'],
  SecretUpdate: ['secrets', 'update'],

  ConfigList: ['configs', 'list'],
  ConfigCreate: ['configs', 'create'],
  ConfigInspect: ['configs', 'inspect'],
  ConfigDelete: ['configs', 'remove'],
  ConfigUpdate: ['configs', 'update'],

  DistributionInspect: ['distribution', 'inspect'],
};

/** Operations renamed in API 1.28: the old id stays callable as an alias of the new one. */
export const renamedOperations: Record<string, string> = {
  ContainerArchiveHead: 'ContainerArchiveInfo',
  ContainerGetArchive: 'ContainerArchive',
  ContainerPutArchive: 'PutContainerArchive',
};

/**
 * Response kinds the spec cannot express (it declares application/json for streams of JSON
 * objects, and nothing for connection take-over). These are facts about engine behaviour.
 */
export const responseKindOverrides: Record<string, string> = {
  ImageCreate: 'jsonStream',
  ImagePush: 'jsonStream',
  ImageLoad: 'jsonStream',
  ImageBuild: 'jsonStream',
  PluginPull: 'jsonStream',
  PluginUpgrade: 'jsonStream',
  PluginPush: 'jsonStream',
  SystemEvents: 'jsonStream',
  ContainerStats: 'jsonStream',
  ContainerAttach: 'hijack',
  ExecStart: 'hijack',
  Session: 'hijack',
  ContainerAttachWebsocket: 'websocket',
  ContainerLogs: 'multiplexed',
  ServiceLogs: 'multiplexed',
  TaskLogs: 'multiplexed',
  ContainerArchiveInfo: 'head',
  SystemPingHead: 'head',
  SystemPing: 'text',
};

/**
 * Bodies to send when the caller gives none, for operations whose engine handler fails on an
 * empty body although the spec marks it optional (exec start: "got EOF while reading request body").
 */
/**
 * Query strings the engine decodes as JSON (filters, build args, labels, platforms): the caller may
 * give an object, which is JSON-encoded. The spec states this only in prose (each one's description
 * says "JSON"), which spec/ does not keep, so the list is explicit. It applies while the parameter is
 * a string: ImageGet, ImageGetAll and ImageLoad take `platform` as a JSON string in 1.48–1.51 and as
 * a list from 1.52. Checked against every version 1.25–1.55: these are exactly the string query
 * parameters whose description says JSON (VolumeList's `filters` also has `format: json`).
 */
export const jsonQueryParams: Record<string, readonly string[]> = {
  ContainerList: ['filters'],
  ContainerPrune: ['filters'],
  ImageList: ['filters'],
  ImageBuild: ['cachefrom', 'labels', 'buildargs', 'outputs'],
  ImageSearch: ['filters'],
  ImagePrune: ['filters'],
  ImagePush: ['platform'],
  ImageHistory: ['platform'],
  ImageInspect: ['platform'],
  ImageGet: ['platform'],
  ImageGetAll: ['platform'],
  ImageLoad: ['platform'],
  BuildPrune: ['filters'],
  SystemEvents: ['filters'],
  VolumeList: ['filters'],
  VolumePrune: ['filters'],
  NetworkList: ['filters'],
  NetworkPrune: ['filters'],
  NodeList: ['filters'],
  ServiceList: ['filters'],
  TaskList: ['filters'],
  SecretList: ['filters'],
  PluginList: ['filters'],
  ConfigList: ['filters'],
};

/**
 * String parameters the engine reads as repeated keys (r.Form[name]): one value or a list.
 */
export const repeatedParams: Record<string, readonly string[]> = {
  ImageBuild: ['t', 'extrahosts'],
};

/**
 * JSON bodies sent when the caller gives none: the engine takes an empty body, but Podman's
 * compat API wants JSON for these (ImageCommit: "unexpected end of JSON input").
 */
export const bodyDefaults: Record<string, unknown> = {
  ExecStart: {},
  ImageCommit: {},
};
