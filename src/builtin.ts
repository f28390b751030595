/**
 * Node built-ins that only some calls need (TLS, child processes, hashing), loaded when first
 * used: a script that pings the engine and exits does not pay for them.
 */
export const lazyBuiltin = {
  https: () => process.getBuiltinModule('node:https'),
  childProcess: () => process.getBuiltinModule('node:child_process'),
  crypto: () => process.getBuiltinModule('node:crypto'),
};
