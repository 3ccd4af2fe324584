/**
 * Simulated time for `aheadfs replay`: a clock that only moves when the replay driver
 * takes the next event off the queue, and the queue (a binary min-heap on time, ties in
 * the order scheduled, so a run is deterministic).
 *
 *   device.read() ──schedule(t_done, resolve)──▶ [heap: (t, seq)]
 *   driver: nothing runnable ──▶ pop the earliest ──▶ clock.nowUs = t ──▶ resolve()
 *
 * The engine reads this clock everywhere a mount reads the wall clock: the request
 * queue's `now` (diskstats' ticks and io_ticks, mq-deadline's expiry, `rq complete ms=`)
 * and the trace's `t=`.
 */

export interface SimEvent {
  readonly t: number;
  readonly seq: number;
  readonly fire: () => void;
}

export class SimClock {
  /** Simulated microseconds since the replay started. Invariant: never decreases. */
  nowUs = 0;
  private readonly heap: SimEvent[] = [];
  private seq = 0;

  get nowMs(): number {
    return this.nowUs / 1000;
  }

  get pending(): number {
    return this.heap.length;
  }

  /** Run `fire` at simulated time `t` (µs; not before now). */
  schedule(t: number, fire: () => void): void {
    const ev: SimEvent = { t: Math.max(t, this.nowUs), seq: this.seq++, fire };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(ev, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = ev;
  }

  /** Move the clock to the earliest event and fire it; false when there is none. */
  step(): boolean {
    const h = this.heap;
    if (h.length === 0) return false;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    this.nowUs = top.t;
    top.fire();
    return true;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}
