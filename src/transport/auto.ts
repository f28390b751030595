/**
 * The default transport. A process that makes a few requests and exits should not pay for
 * loading undici (~100 ms here), and a long-lived one should get undici's lower cost per request.
 * So requests start on node:http; once `upgradeAfter` requests have been made, undici is loaded
 * in the background (on an unref'd timer, so a process that is done exits without waiting) and
 * takes over every later ordinary request. Streams and hijacked connections always use node:http
 * (see undici.ts).
 *
 * The switch keeps the connection limit: while node:http still has ordinary calls in flight,
 * calls sent to undici are counted against the same limit (and wait when it is reached); once
 * node:http is idle, undici's own pool limit is the only one. node:http keeps no idle connection
 * after the switch.
 */
import type { Endpoint } from './host.js';
import { Limit } from './limit.js';
import { NodeHttpTransport } from './node-http.js';
import { DEFAULT_LIMITS, type ConnectionLimits, type Transport, type TransportRequest, type TransportResponse, type UpgradeResult } from './types.js';
import { UndiciTransport } from './undici.js';

export class AutoTransport implements Transport {
  readonly address: string;
  private readonly node: NodeHttpTransport;
  private fast: UndiciTransport | undefined;
  private loading: Promise<unknown> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private count = 0;
  private closed = false;
  /** Ordinary calls in flight on either transport, counted only until the switch is complete. */
  private readonly inFlight: Limit;
  private nodeActive = 0;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly connectTimeout: number,
    private readonly upgradeAfter: number,
    private readonly limits: ConnectionLimits = DEFAULT_LIMITS,
  ) {
    this.address = endpoint.address;
    this.node = new NodeHttpTransport(endpoint, { connectTimeout, limits });
    this.inFlight = new Limit(limits.maxConnections);
  }

  /** Which transport serves requests now: for diagnostics and tests. */
  get active(): 'node' | 'undici' {
    return this.fast ? 'undici' : 'node';
  }

  request(r: TransportRequest): Promise<TransportResponse> {
    // Streams always go through node:http (see undici.ts), on connections counted apart.
    if (r.stream) return this.node.request(r);
    if (this.fast) {
      if (this.nodeActive === 0) return this.fast.request(r);
      return this.counted(this.fast, r);
    }
    if (++this.count === this.upgradeAfter) this.scheduleUndici();
    this.nodeActive++;
    return this.counted(this.node, r);
  }

  /** Sends `r` holding a place in `inFlight` until its answer is read (or fails). */
  private async counted(t: Transport, r: TransportRequest): Promise<TransportResponse> {
    const onNode = t === this.node;
    let release: (() => void) | undefined;
    const done = (): void => {
      release?.();
      release = undefined;
      if (onNode && --this.nodeActive === 0 && this.fast) this.node.retire();
    };
    try {
      release = await this.inFlight.acquire(r.signal);
      const res = await t.request(r);
      if (res.body.destroyed) done();
      else res.body.once('close', done);
      return res;
    } catch (err) {
      done();
      throw err;
    }
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
    this.loading = UndiciTransport.create(this.endpoint, this.connectTimeout, this.limits, this.node).then(
      (t) => {
        if (this.closed) return t.close();
        this.fast = t;
        if (this.nodeActive === 0) this.node.retire();
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
