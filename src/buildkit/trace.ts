/**
 * BuildKit progress: the `moby.buildkit.trace` aux messages of a `/build?version=2` stream are
 * base64 `StatusResponse`s. They are decoded, merged by vertex digest (the same vertex arrives
 * many times as it starts, logs and completes), turned into typed events, and printed in the
 * shape of `docker build --progress=plain`.
 */
import type { BuildkitEvent, BuildkitVertex } from './types.js';
import { decodeStatusResponse, type StatusResponse, type VertexMessage } from './proto.js';

/** Log bytes kept per vertex for error messages (the tail). */
const KEPT_LOG = 8 * 1024;
/** Vertices remembered; a build has far fewer, this only bounds a hostile stream. */
const MAX_VERTICES = 100_000;

interface VertexState extends BuildkitVertex {
  /** Tail of its output, for the error of a failing step. */
  tail: Buffer[];
  tailBytes: number;
  /** Partial last log line, for the printer. */
  partial: string;
  announced: boolean;
  closed: boolean;
  statuses: Map<string, { completed: boolean }>;
}

function units(n: number): string {
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < u.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n}B` : `${v.toFixed(2).replace(/\.?0+$/, '')}${u[i]}`;
}

const secs = (ms: number): string => (ms / 1000).toFixed(1);

export class BuildkitTracer {
  private readonly vertices = new Map<string, VertexState>();
  private counter = 0;
  private current: string | undefined;
  private readonly pending = new Set<VertexState>();

  constructor(
    private readonly onEvent: ((event: BuildkitEvent) => void) | undefined,
    /** Receives plain-progress text (whole lines, each ending with a newline). */
    private readonly print: ((text: string) => void) | undefined,
  ) {}

  /** Decodes one trace aux (base64 or bytes) and applies it. */
  push(aux: string | Buffer): void {
    const buf = typeof aux === 'string' ? Buffer.from(aux, 'base64') : aux;
    this.apply(decodeStatusResponse(buf));
  }

  /** The failing vertex (the last one with an error) and its output tail, for error messages. */
  failure(): { vertex: BuildkitVertex; log: string } | undefined {
    let found: VertexState | undefined;
    for (const v of this.vertices.values()) if (v.error) found = v;
    if (!found) return undefined;
    return { vertex: publicVertex(found), log: Buffer.concat(found.tail).toString('utf8') };
  }

  /** Prints what is still held back (the closing lines of finished steps): at the end of the build. */
  flush(): void {
    const out: string[] = [];
    for (const v of this.pending) this.settle(v, out);
    this.pending.clear();
    if (out.length > 0) this.print?.(out.join(''));
  }

  apply(r: StatusResponse): void {
    const out: string[] = [];
    // A finished step's closing line waits one message: the engine often sends the step's last
    // statuses (and its cached flag) just after it completed. Steps this message does not touch
    // are closed now, before anything else is printed.
    if (this.pending.size > 0) {
      const mentioned = new Set<string>([...r.vertexes.map((x) => x.digest), ...r.statuses.map((x) => x.vertex), ...r.logs.map((x) => x.vertex)]);
      for (const v of [...this.pending]) {
        if (mentioned.has(v.digest)) continue;
        this.pending.delete(v);
        this.settle(v, out);
      }
    }
    const touched: VertexState[] = [];
    for (const vm of r.vertexes) {
      const v = this.vertex(vm, out);
      if (v) touched.push(v);
    }
    for (const s of r.statuses) {
      const v = this.get(s.vertex);
      if (!v) continue;
      this.announce(v, out);
      const prev = v.statuses.get(s.id);
      const completed = s.completed !== undefined;
      if (prev?.completed) continue;
      v.statuses.set(s.id, { completed });
      this.onEvent?.({ type: 'progress', vertex: publicVertex(v), id: s.id, name: s.name, current: s.current, total: s.total, completed });
      if (completed || s.total > 0) {
        const amount = s.total > 0 ? ` ${units(s.current)} / ${units(s.total)}` : s.current > 0 ? ` ${units(s.current)}` : '';
        const took = amount === '' && s.started !== undefined && s.completed !== undefined ? ` ${secs(s.completed - s.started)}s` : '';
        this.line(v, `${s.id}${amount}${took}${completed ? ' done' : ''}`, out);
      }
    }
    for (const l of r.logs) {
      const v = this.get(l.vertex);
      if (!v) continue;
      this.announce(v, out);
      v.tail.push(l.msg);
      v.tailBytes += l.msg.length;
      while (v.tailBytes - v.tail[0]!.length >= KEPT_LOG) v.tailBytes -= v.tail.shift()!.length;
      this.onEvent?.({ type: 'log', vertex: publicVertex(v), stream: l.stream === 2 ? 'stderr' : 'stdout', data: l.msg });
      const elapsed = v.started !== undefined && l.timestamp !== undefined ? ((l.timestamp - v.started) / 1000).toFixed(3) : '0.000';
      const text = v.partial + l.msg.toString('utf8');
      const lines = text.split('\n');
      v.partial = lines.pop()!.slice(-KEPT_LOG);
      for (const t of lines) this.line(v, `${elapsed} ${t}`, out);
    }
    for (const w of r.warnings) {
      const v = this.get(w.vertex);
      this.onEvent?.({ type: 'warning', vertex: v ? publicVertex(v) : undefined, level: w.level, message: w.short, detail: w.detail, url: w.url });
      out.push(`${v ? `#${v.index} ` : ''}WARN: ${w.short}\n`);
    }
    for (const v of touched) if (!v.closed && (v.cached || v.error || v.completed !== undefined)) this.pending.add(v);
    if (out.length > 0) this.print?.(out.join(''));
  }

  private get(digest: string): VertexState | undefined {
    return this.vertices.get(digest);
  }

  private vertex(vm: VertexMessage, out: string[]): VertexState | undefined {
    let v = this.vertices.get(vm.digest);
    if (!v) {
      if (this.vertices.size >= MAX_VERTICES) return undefined;
      v = {
        digest: vm.digest,
        index: 0,
        name: vm.name,
        inputs: vm.inputs,
        cached: false,
        started: undefined,
        completed: undefined,
        error: undefined,
        tail: [],
        tailBytes: 0,
        partial: '',
        announced: false,
        closed: false,
        statuses: new Map(),
      };
      this.vertices.set(vm.digest, v);
    }
    if (vm.name) v.name = vm.name;
    if (vm.inputs.length > 0) v.inputs = vm.inputs;
    const wasStarted = v.started !== undefined;
    if (vm.started !== undefined) v.started = vm.started;
    if (vm.cached) v.cached = true;
    if (vm.error) v.error = vm.error;
    if (vm.completed !== undefined) v.completed = vm.completed;
    if (!wasStarted && v.started !== undefined && !v.closed) {
      this.announce(v, out);
      this.onEvent?.({ type: 'vertex', state: 'started', vertex: publicVertex(v) });
    }
    return v;
  }

  private settle(v: VertexState, out: string[]): void {
    if (v.closed) return;
    if (v.cached) {
      this.close(v, 'cached', 'CACHED', out);
    } else if (v.error) {
      const canceled = /context canceled/.test(v.error);
      this.close(v, canceled ? 'canceled' : 'error', canceled ? 'CANCELED' : `ERROR: ${v.error}`, out);
    } else if (v.completed !== undefined) {
      this.close(v, 'completed', `DONE ${secs(v.completed - (v.started ?? v.completed))}s`, out);
    }
  }

  private close(v: VertexState, state: 'cached' | 'canceled' | 'error' | 'completed', text: string, out: string[]): void {
    this.announce(v, out);
    if (v.partial) {
      this.line(v, `${v.partial}`, out);
      v.partial = '';
    }
    v.closed = true;
    this.line(v, text, out);
    this.onEvent?.({ type: 'vertex', state, vertex: publicVertex(v) });
  }

  /** `#N name`, once, the first time the vertex shows. */
  private announce(v: VertexState, out: string[]): void {
    if (v.announced) return;
    v.announced = true;
    v.index = ++this.counter;
    this.line(v, v.name, out);
  }

  private line(v: VertexState, text: string, out: string[]): void {
    if (this.current !== undefined && this.current !== v.digest) out.push('\n');
    this.current = v.digest;
    out.push(`#${v.index} ${text}\n`);
  }
}

function publicVertex(v: VertexState): BuildkitVertex {
  return { digest: v.digest, index: v.index, name: v.name, inputs: v.inputs, cached: v.cached, started: v.started, completed: v.completed, error: v.error };
}
