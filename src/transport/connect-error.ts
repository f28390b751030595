/** Turns a failure to reach the engine into a ConnectionError that names the address and why. */
import { ConnectionError } from '../errors.js';

const REASONS: Record<string, string> = {
  ENOENT: 'no such socket',
  ECONNREFUSED: 'connection refused (is the engine running?)',
  EACCES: 'permission denied (is the user allowed to use the socket?)',
  EPERM: 'operation not permitted',
  ENOTSOCK: 'not a socket',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset by the engine',
  EPIPE: 'connection closed by the engine',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_SOCKET: 'connection closed by the engine',
  UND_ERR_CLOSED: 'connection closed by the engine',
};

/** Codes that mean the engine was not reached, as opposed to a bug or an abort. */
export function isConnectionFailure(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return false;
  return code in REASONS || code === 'EPROTO' || code === 'ESSH' || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code);
}

function tlsReason(message: string): string {
  if (/wrong version number/i.test(message)) return 'the server does not speak TLS (wrong version number)';
  const alert = /alert ([a-z ]+?)(?::|$)/i.exec(message);
  if (alert) return `the engine refused the TLS handshake (${alert[1]!.trim()}: does it require a client certificate?)`;
  return message.replace(/\s+/g, ' ').trim();
}

export function connectionError(err: unknown, address: string, operationId?: string): ConnectionError {
  const code = (err as { code?: string })?.code;
  let why = (code && REASONS[code]) ?? (err as Error)?.message ?? String(err);
  if (code === 'ESSH') why = (err as Error).message;
  // OpenSSL's messages carry internal file names and line breaks: keep the reason's words.
  if (code && !REASONS[code] && isConnectionFailure(err)) why = `TLS: ${tlsReason((err as Error).message)}`;
  return new ConnectionError(`cannot reach the Docker engine at ${address}: ${why}${code ? ` (${code})` : ''}`, {
    address,
    ...(code ? { reason: code } : {}),
    ...(operationId ? { operationId } : {}),
    cause: err,
  });
}
