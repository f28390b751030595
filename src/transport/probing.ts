/**
 * When nothing says where the engine is, try the known sockets in order and keep the first that
 * answers. The first request doubles as the probe when it can be safely sent twice (no streamed
 * body); otherwise a `GET /_ping` probes first. If none answers, the ConnectionError lists every
 * place tried and what happened there.
 */
import { ConnectionError, type ConnectionAttempt as Attempt } from '../errors.js';
import { connectionError, isConnectionFailure } from './connect-error.js';
import type { Transport, TransportRequest, TransportResponse, UpgradeResult, WholeLimits, WholeResponse } from './types.js';
import { readWhole, wholeAnswer } from './whole.js';

export interface Candidate {
  address: string;
  source: string;
  make(): Transport;
}


export class ProbingTransport implements Transport {
  private chosen: { transport: Transport; candidate: Candidate } | undefined;
  private selecting: Promise<Transport> | undefined;
  readonly attempts: Attempt[] = [];

  constructor(private readonly candidates: Candidate[]) {}

  get address(): string {
    return (this.chosen?.candidate ?? this.candidates[0]!).address;
  }

  /** The candidate in use, once one answered. */
  get selected(): Candidate | undefined {
    return this.chosen?.candidate;
  }

  async request(req: TransportRequest): Promise<TransportResponse> {
    if (this.chosen) return this.chosen.transport.request(req);
    if (!this.selecting && replayable(req)) {
      let first: TransportResponse | undefined;
      this.selecting = this.select(async (t) => (first = await t.request(req)));
      const transport = await this.selecting;
      return first ?? transport.request(req);
    }
    const transport = await this.transport();
    return transport.request(req);
  }

  requestWhole(req: TransportRequest, limits: WholeLimits): Promise<WholeResponse> {
    if (this.chosen) return wholeAnswer(this.chosen.transport, req, limits);
    return this.request(req).then((res) => readWhole(res, limits, req.signal));
  }

  async upgrade(req: TransportRequest): Promise<UpgradeResult | TransportResponse> {
    return (await this.transport()).upgrade(req);
  }

  /** Finds the engine (probing with `GET /_ping` if nothing was sent yet). */
  transport(): Promise<Transport> {
    if (this.chosen) return Promise.resolve(this.chosen.transport);
    this.selecting ??= this.select(async (t) => {
      const res = await t.request({ method: 'GET', path: '/_ping', headers: {} });
      res.body.resume();
      return res;
    });
    return this.selecting;
  }

  private async select(probe: (t: Transport) => Promise<TransportResponse>): Promise<Transport> {
    try {
      for (const candidate of this.candidates) {
        const transport = candidate.make();
        try {
          await probe(transport);
          this.chosen = { transport, candidate };
          return transport;
        } catch (err) {
          await transport.close().catch(() => undefined);
          if (!isConnectionFailure(err)) throw err;
          this.attempts.push({ address: candidate.address, source: candidate.source, error: connectionError(err, candidate.address).message.replace(/^cannot reach the Docker engine at \S+: /, '') });
        }
      }
    } finally {
      if (!this.chosen) this.selecting = undefined; // a later call probes again
    }
    const tried = this.attempts.map((a) => `${a.address} (${a.source}): ${a.error}`).join('; ');
    throw new ConnectionError(`cannot reach a Docker engine; tried ${tried}. Set DOCKER_HOST or a docker context to say where it is.`, {
      address: this.candidates[0]!.address,
      attempts: this.attempts.splice(0),
    });
  }

  async close(): Promise<void> {
    await this.chosen?.transport.close();
  }
}

/** A request whose body can be sent again after a failed connect: none, or bytes. */
function replayable(req: TransportRequest): boolean {
  return req.body === undefined || typeof req.body === 'string' || req.body instanceof Uint8Array;
}
