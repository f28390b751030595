/**
 * SSH agent forwarding for `RUN --mount=type=ssh`: CheckAgent says whether an id is known;
 * ForwardAgent tunnels the bytes of one agent connection (BytesMessage both ways) to the
 * agent's unix socket, the id arriving in the metadata `buildkit.ssh.id`.
 */
import * as net from 'node:net';
import { GrpcError, GRPC_NOT_FOUND, GRPC_UNAVAILABLE, unary, type GrpcHandler } from './grpc.js';
import { decodeBytesMessage, decodeFirstString, encodeBytesMessage } from './proto.js';

export const CHECK_AGENT = '/moby.sshforward.v1.SSH/CheckAgent';
export const FORWARD_AGENT = '/moby.sshforward.v1.SSH/ForwardAgent';

/** The handlers for agents by id (socket paths). */
export function sshHandlers(agents: ReadonlyMap<string, string>): Map<string, GrpcHandler> {
  const known = (id: string): string => {
    const sock = agents.get(id || 'default');
    if (sock === undefined) throw new GrpcError(GRPC_NOT_FOUND, `unset ssh forward key ${id || 'default'}`);
    return sock;
  };
  const handlers = new Map<string, GrpcHandler>();
  handlers.set(
    CHECK_AGENT,
    unary((req) => {
      known(decodeFirstString(req));
      return Buffer.alloc(0);
    }),
  );
  handlers.set(FORWARD_AGENT, async (call) => {
    const sockPath = known(call.metadata('buildkit.ssh.id')[0] ?? '');
    const sock = net.connect(sockPath);
    let sockError: Error | undefined;
    sock.on('error', (err) => (sockError ??= err));
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', (err) => reject(new GrpcError(GRPC_UNAVAILABLE, `cannot reach the ssh agent: ${err.message}`, { cause: err })));
    });
    const onAbort = (): void => void sock.destroy();
    call.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const upstream = (async () => {
        for await (const m of call.messages()) {
          const data = decodeBytesMessage(m);
          if (data.length > 0 && !sock.write(data)) {
            await new Promise<void>((resolve) => {
              sock.once('drain', resolve);
              sock.once('close', resolve);
            });
          }
        }
        sock.end();
      })();
      upstream.catch(() => sock.destroy());
      for await (const chunk of sock as AsyncIterable<Buffer>) await call.send(encodeBytesMessage(chunk));
      await upstream.catch(() => undefined);
      if (sockError) throw new GrpcError(GRPC_UNAVAILABLE, `ssh agent connection failed: ${sockError.message}`);
    } finally {
      call.signal.removeEventListener('abort', onAbort);
      sock.destroy();
    }
  });
  return handlers;
}
