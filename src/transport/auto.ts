/**
 * The default transport. A process that makes a few requests and exits should not pay for
 * loading undici (~100 ms here), and a long-lived one should get undici's lower cost per request.
 * So requests start on node:http; once `upgradeAfter` requests have been made, undici is loaded
 * in the background (on an unref'd timer, so a process that is done exits without waiting) and
 * takes over every later request. Hijacked connections always use node:http.
 */
import type { Endpoint } from './host.js';
import { NodeHttpTransport } from './node-http.js';
import type { Transport, TransportRequest, TransportResponse, UpgradeResult } from './types.js';
import { UndiciTransport } from './undici.js';

export class AutoTransport implements Transport {
  readonly address: string;
  private readonly node: NodeHttpTransport;
  private fast: UndiciTransport | undefined;
  private loading: Promise<unknown> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private count = 0;
  private closed = false;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly connectTimeout: number,
    private readonly upgradeAfter: number,
  ) {
    this.address = endpoint.address;
    this.node = new NodeHttpTransport(endpoint, { connectTimeout });
  }

  /** Which transport serves requests now: for diagnostics and tests. */
  get active(): 'node' | 'undici' {
    return this.fast ? 'undici' : 'node';
  }

  request(r: TransportRequest): Promise<TransportResponse> {
    if (this.fast) return this.fast.request(r);
    if (++this.count === this.upgradeAfter) this.scheduleUndici();
    return this.node.request(r);
  }

  upgrade(r: TransportRequest): Promise<UpgradeResult | TransportResponse> {
    return this.node.upgrade(r);
  }

  /** Loads undici now and waits for it (tests and benchmarks use this to skip the warm-up). */
  async warm(): Promise<void> {
    this.startLoading();
    await this.loading;
  }

  private scheduleUndici(): void {
    this.timer = setTimeout(() => this.startLoading(), 0);
    this.timer.unref();
  }

  private startLoading(): void {
    if (this.loading || this.closed) return;
    this.loading = UndiciTransport.create(this.endpoint, this.connectTimeout).then(
      (t) => {
        if (this.closed) return t.close();
        this.fast = t;
        return undefined;
      },
      () => undefined, // stay on node:http if undici cannot be loaded
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.loading;
    await Promise.all([this.node.close(), this.fast?.close()]);
  }
}
