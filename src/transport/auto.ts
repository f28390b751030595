/**
 * The default transport. A process that makes a few requests and exits should not pay for
 * loading undici (~100 ms here), and a long-lived one should get undici's lower cost per request.
 * So requests start on node:http; once `upgradeAfter` requests have been made, undici is loaded
 * in the background (on an unref'd timer, so a process that is done exits without waiting) and
 * takes over every later ordinary request. Streams and hijacked connections always use node:http
 * (see undici.ts).
 *
 * The switch keeps the connection limit: calls made once undici is loaded wait until node:http's
 * last ordinary calls are done (short ones: long polls and uploads go with the streams), then
 * node:http's kept connections close and undici's pool, with the same limit, serves them all.
 */
import type { Endpoint } from './host.js';
import { NodeHttpTransport } from './node-http.js';
import { DEFAULT_LIMITS, type ConnectionLimits, type Transport, type TransportRequest, type TransportResponse, type UpgradeResult, type WholeLimits, type WholeResponse } from './types.js';
import { UndiciTransport } from './undici.js';
import { readWhole } from './whole.js';

export class AutoTransport implements Transport {
  readonly address: string;
  private readonly node: NodeHttpTransport;
  private fast: UndiciTransport | undefined;
  private loading: Promise<unknown> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private count = 0;
  private closed = false;
  /** Ordinary calls on node:http not yet answered and read. */
  private nodeActive = 0;
  /** Set once undici is loaded and node:http has no call left: undici serves every call. */
  private switched = false;
  /** Calls that came after undici was loaded, waiting for node:http's last calls to finish. */
  private waiting: { go: () => void; fail: (err: Error) => void }[] = [];

  constructor(
    private readonly endpoint: Endpoint,
    private readonly connectTimeout: number,
    private readonly upgradeAfter: number,
    private readonly limits: ConnectionLimits = DEFAULT_LIMITS,
  ) {
    this.address = endpoint.address;
    this.node = new NodeHttpTransport(endpoint, { connectTimeout, limits });
  }

  /** Which transport serves requests now: for diagnostics and tests. */
  get active(): 'node' | 'undici' {
    return this.fast ? 'undici' : 'node';
  }

  request(r: TransportRequest): Promise<TransportResponse> {
    // Streams and uploads always go through node:http (see undici.ts), counted apart.
    if (r.stream) return this.node.request(r);
    if (this.switched) return this.fast!.request(r);
    if (this.fast) return this.afterNode(r);
    if (++this.count === this.upgradeAfter) this.scheduleUndici();
    this.nodeActive++;
    return this.node.request(r).then(
      (res) => {
        if (res.body.destroyed) this.nodeDone();
        else res.body.once('close', () => this.nodeDone());
        return res;
      },
      (err: unknown) => {
        this.nodeDone();
        throw err;
      },
    );
  }

  /** On undici once switched (no stream made), else as `request()`, read whole. */
  requestWhole(r: TransportRequest, limits: WholeLimits): Promise<WholeResponse> {
    if (this.switched && !r.stream) return this.fast!.requestWhole(r, limits);
    return this.request(r).then((res) => readWhole(res, limits, r.signal));
  }

  /**
   * Once undici is loaded, new calls wait for node:http's last ordinary calls (short ones: long
   * polls and uploads are streams), so the two never hold more than the limit together.
   */
  private afterNode(r: TransportRequest): Promise<TransportResponse> {
    return new Promise<void>((resolve, reject) => {
      const signal = r.signal;
      if (signal?.aborted) return reject(signal.reason);
      const entry = {
        go: (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: (err: Error): void => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = (): void => {
        this.waiting = this.waiting.filter((w) => w !== entry);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    }).then(() => this.fast!.request(r));
  }

  private nodeDone(): void {
    if (--this.nodeActive === 0 && this.fast) this.finishSwitch();
  }

  /** node:http is idle: close its kept connections, then let undici serve every call. */
  private finishSwitch(): void {
    this.node.retire();
    this.switched = true;
    // after the closes of the kept connections have gone out
    setImmediate(() => {
      const waiting = this.waiting;
      this.waiting = [];
      for (const w of waiting) w.go();
    });
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
        if (this.nodeActive === 0) this.finishSwitch();
        return undefined;
      },
      () => undefined, // stay on node:http if undici cannot be loaded
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    // calls still waiting for node:http's last ones never start: they fail (the client says CLOSED)
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w.fail(new Error('the transport was closed'));
    if (this.timer) clearTimeout(this.timer);
    await this.loading;
    await Promise.all([this.node.close(), this.fast?.close()]);
  }
}
