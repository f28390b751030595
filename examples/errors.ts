// Errors are typed: branch on the class or on `code`, read the status and the engine's message.
// Bad input fails before anything is sent.
//   npx tsx examples/errors.ts
import { ApiVersionError, Docker, DockerError, NotFoundError, ValidationError } from 'dockhand';

const docker = new Docker();
try {
  await docker.containers.inspect('no-such-container-dockhand-example');
} catch (err) {
  if (err instanceof NotFoundError) console.log(`NotFoundError ${err.statusCode}: ${err.message}`);
  else throw err;
}
try {
  // a typo, in plain JavaScript or through a cast: refused before sending
  await docker.containers.create({ body: { Image: 'busybox', HostConfig: { Memroy: 1 } } as never });
} catch (err) {
  if (err instanceof ValidationError) console.log(`ValidationError: ${err.message}`);
  else throw err;
}
const old = new Docker({ apiVersion: '1.25' });
try {
  await old.configs.list(); // swarm configs came in API 1.30
} catch (err) {
  if (err instanceof ApiVersionError) console.log(`ApiVersionError: ${err.message}`);
  else throw err;
}
try {
  await docker.networks.remove('bridge'); // a predefined network cannot be removed
} catch (err) {
  // every failure is a DockerError: ForbiddenError (403) here, ConflictError (409) for a name in use, ...
  if (!(err instanceof DockerError)) throw err;
  console.log(`${err.name} ${err.statusCode} (${err.code}): ${err.message}`);
}
await old.close();
await docker.close();
