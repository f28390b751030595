/** A scripted Transport for unit tests: records every request, answers from a handler. */
import { Readable } from 'node:stream';
import type { Transport, TransportRequest, TransportResponse, UpgradeResult } from '../../src/index.js';

export interface FakeAnswer {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Buffer | Readable;
}

export interface Recorded extends TransportRequest {
  bodyText?: string;
}

export class FakeTransport implements Transport {
  readonly address = 'fake://engine';
  readonly requests: Recorded[] = [];
  closed = false;

  constructor(
    private readonly handler: (req: TransportRequest) => FakeAnswer | Promise<FakeAnswer> = () => ({ status: 200, body: '{}' }),
    private readonly engineVersion = '1.41',
  ) {}

  async request(req: TransportRequest): Promise<TransportResponse> {
    const recorded: Recorded = { ...req };
    if (typeof req.body === 'string') recorded.bodyText = req.body;
    this.requests.push(recorded);
    if (req.path === '/_ping') {
      return { statusCode: 200, headers: { 'api-version': this.engineVersion }, body: Readable.from([Buffer.from('OK')]) };
    }
    if (req.signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
    const answer = await this.handler(req);
    const body = answer.body instanceof Readable ? answer.body : Readable.from(answer.body === undefined || answer.body === '' ? [] : [Buffer.from(answer.body)]);
    return { statusCode: answer.status ?? 200, headers: answer.headers ?? {}, body };
  }

  async upgrade(req: TransportRequest): Promise<UpgradeResult | TransportResponse> {
    return this.request(req);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Requests other than the version negotiation ping. */
  get calls(): Recorded[] {
    return this.requests.filter((r) => r.path !== '/_ping');
  }
}

export const json = (value: unknown, status = 200): FakeAnswer => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(value),
});
