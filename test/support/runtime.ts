/**
 * What the runtime running the tests offers. Bun answers `import('undici')` with a stand-in of its
 * own whose Pool does not request: dockhand refuses `transport: 'undici'` there (ValidationError
 * naming Bun) and its auto transport stays on node:http, so tests of undici run where it exists.
 */
export const UNDICI_HERE = !process.versions.bun;

/** The transports a test can force here. */
export const TRANSPORTS: readonly ('node' | 'undici')[] = UNDICI_HERE ? ['node', 'undici'] : ['node'];
