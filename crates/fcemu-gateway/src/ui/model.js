// The timeline's data: fcemu's lifecycle events (docs/contract.md) turned into one lane per instance, with its
// Creating parts, requests, frozen spans, thaws, PreStop and destroy, and one row per cold start. Pure: no
// page, no network; `node --test` runs its tests (model.test.js), and the page (app.js) draws what it holds.
"use strict";

/** Milliseconds since the epoch of an event's `ts` (RFC 3339). */
function eventTime(e) {
  return Date.parse(e.ts);
}

/** What a request ended as: ok, a function error, its timeout, or an Initializer that failed for it. */
function outcomeOf(e) {
  if (e.errorType === "InitializationError") return "init_error";
  if (e.timedOut) return "timeout";
  if (e.error || (typeof e.status === "number" && e.status >= 500)) return "error";
  return "ok";
}

class Model {
  constructor() {
    /** Lanes by instance id, in the order instances appeared. */
    this.lanes = new Map();
    /** Every cold start: its function, instance, and the three parts (and Runtime Init's two, if known). */
    this.coldStarts = [];
    /** The first and last moments seen (ms since the epoch). */
    this.first = null;
    this.last = null;
    this.events = 0;
    /** Event-driven work by function: invocations queued, tried again, dropped for their age, outcomes sent
     * to a destination, and triggers fired. */
    this.asynchronous = new Map();
    /** Every session (session affinity), in the order they began: which instance held it, and how it ended. */
    this.sessions = [];
  }

  /** Counts what the asynchronous queue and the triggers did (their events name no instance). */
  countAsync(e) {
    const counted = {
      "async.enqueued": "enqueued",
      "async.retried": "retried",
      "async.expired": "expired",
      "destination.delivered": "delivered",
      "trigger.fired": "fired",
    }[e.event];
    if (!counted) return;
    if (!this.asynchronous.has(e.functionName)) {
      this.asynchronous.set(e.functionName, { enqueued: 0, retried: 0, expired: 0, delivered: 0, fired: 0 });
    }
    this.asynchronous.get(e.functionName)[counted] += 1;
  }

  lane(e) {
    let lane = this.lanes.get(e.instanceId);
    if (!lane) {
      const t = eventTime(e);
      lane = {
        instanceId: e.instanceId,
        functionName: e.functionName,
        provisioned: false,
        start: t,
        end: null,
        // Creating: [start, end] of each part, in milliseconds since the epoch.
        instanceCreate: null,
        runtimeInit: null,
        // Each part's own figure from its event (the spans above are the events' millisecond stamps).
        instanceCreateMs: null,
        runtimeInitMs: null,
        engineStartMs: null,
        initHookMs: null,
        initHook: null,
        initHookRequestId: null,
        initFailed: false,
        ready: null,
        requests: [],
        open: new Map(),
        frozen: [],
        thaws: [],
        preStop: null,
        destroyed: null,
        // The sessions it held: {sessionId, affinity, start, end, reason}.
        sessions: [],
      };
      this.lanes.set(e.instanceId, lane);
    }
    return lane;
  }

  /** Takes one event (a parsed line of `/_fcemu/events`). */
  apply(e) {
    if (!e || typeof e.event !== "string") return;
    const t = eventTime(e);
    if (Number.isNaN(t)) return;
    this.events += 1;
    if (this.first === null || t < this.first) this.first = t;
    if (this.last === null || t > this.last) this.last = t;
    this.countAsync(e);
    if (!e.instanceId) return;
    const lane = this.lane(e);
    switch (e.event) {
      case "instance.creating":
        lane.start = t;
        lane.provisioned = !!e.provisioned;
        break;
      case "instance.created":
        lane.instanceCreate = [lane.start, t];
        lane.instanceCreateMs = e.durationMs ?? t - lane.start;
        break;
      case "instance.runtime_ready": {
        const from = lane.instanceCreate ? lane.instanceCreate[1] : t - (e.durationMs || 0);
        lane.runtimeInit = [from, t];
        lane.runtimeInitMs = e.durationMs ?? t - from;
        if (typeof e.engineStartMs === "number") lane.engineStartMs = e.engineStartMs;
        break;
      }
      case "initializer.start":
        if (!lane.ready) {
          lane.initHook = [t, null];
          lane.initHookRequestId = e.requestId || null;
        }
        break;
      case "initializer.end":
        if (lane.initHook && lane.initHook[1] === null) {
          lane.initHook[1] = t;
          lane.initHookMs = e.durationMs ?? t - lane.initHook[0];
        }
        if (e.error) lane.initFailed = true;
        break;
      case "instance.ready":
        lane.ready = t;
        if (typeof e.initDurationMs === "number") {
          this.coldStarts.push({
            functionName: e.functionName,
            instanceId: e.instanceId,
            at: t,
            initDurationMs: e.initDurationMs,
            instanceCreateMs: e.instanceCreateMs,
            runtimeInitMs: e.runtimeInitMs,
            initHookMs: e.initHookMs,
            engineStartMs: e.engineStartMs ?? null,
            functionStartMs: e.functionStartMs ?? null,
          });
        }
        break;
      case "invoke.start": {
        const request = {
          requestId: e.requestId,
          start: t,
          end: null,
          slot: freeSlot(lane, t),
          status: null,
          outcome: null,
          durationMs: null,
          coldStart: !!e.coldStart,
        };
        lane.requests.push(request);
        lane.open.set(e.requestId, request);
        break;
      }
      case "invoke.end":
      case "invoke.retried": {
        const request = lane.open.get(e.requestId);
        if (!request) break;
        lane.open.delete(e.requestId);
        request.end = t;
        if (e.event === "invoke.retried") {
          request.outcome = "retried";
          break;
        }
        request.status = e.status ?? null;
        request.durationMs = e.durationMs ?? null;
        request.error = e.error || null;
        request.outcome = outcomeOf(e);
        break;
      }
      case "instance.frozen":
        lane.frozen.push([t, null]);
        break;
      case "instance.thawed": {
        const span = lane.frozen[lane.frozen.length - 1];
        if (span && span[1] === null) span[1] = t;
        lane.thaws.push(t);
        break;
      }
      case "prestop.start":
        lane.preStop = { start: t, end: null, status: null, error: null, requestId: e.requestId || null };
        break;
      case "prestop.end":
        if (lane.preStop) {
          lane.preStop.end = t;
          lane.preStop.status = e.status ?? null;
          lane.preStop.error = e.error || null;
        }
        break;
      case "session.started": {
        // Stacked like requests: the lowest row no session still held at `t` takes.
        const taken = new Set(lane.sessions.filter((x) => x.end === null || x.end > t).map((x) => x.slot));
        let slot = 0;
        while (taken.has(slot)) slot += 1;
        const session = {
          sessionId: e.sessionId, affinity: e.sessionAffinity || "", functionName: e.functionName,
          instanceId: e.instanceId, start: t, end: null, reason: null, slot,
        };
        lane.sessions.push(session);
        this.sessions.push(session);
        break;
      }
      case "session.ended": {
        const session = lane.sessions.find((s) => s.sessionId === e.sessionId && s.end === null);
        if (session) {
          session.end = t;
          session.reason = e.reason || "unknown";
        }
        break;
      }
      case "instance.destroyed": {
        lane.destroyed = { at: t, reason: e.reason || "unknown", error: e.error || null };
        lane.end = t;
        for (const session of lane.sessions) {
          if (session.end === null) {
            session.end = t;
            session.reason = "instance_destroyed";
          }
        }
        // A frozen span or request still open ends with the instance.
        const span = lane.frozen[lane.frozen.length - 1];
        if (span && span[1] === null) span[1] = t;
        for (const request of lane.open.values()) request.end = t;
        lane.open.clear();
        if (lane.initHook && lane.initHook[1] === null) lane.initHook[1] = t;
        if (lane.preStop && lane.preStop.end === null) lane.preStop.end = t;
        break;
      }
      default:
        break;
    }
  }

  /** Lanes grouped by function, functions in the order they first appeared. */
  byFunction() {
    const groups = new Map();
    for (const lane of this.lanes.values()) {
      if (!groups.has(lane.functionName)) groups.set(lane.functionName, []);
      groups.get(lane.functionName).push(lane);
    }
    return groups;
  }

  /** p50 and p95 of each cold-start part, per function. */
  coldStartPercentiles() {
    const out = new Map();
    for (const c of this.coldStarts) {
      if (!out.has(c.functionName)) out.set(c.functionName, []);
      out.get(c.functionName).push(c);
    }
    const result = [];
    for (const [functionName, rows] of out) {
      const parts = {};
      for (const key of ["initDurationMs", "instanceCreateMs", "runtimeInitMs", "initHookMs"]) {
        const values = rows.map((r) => r[key]).filter((v) => typeof v === "number");
        parts[key] = { p50: percentile(values, 0.5), p95: percentile(values, 0.95) };
      }
      result.push({ functionName, count: rows.length, ...parts });
    }
    return result;
  }
}

/** The lowest stacking slot not taken at `t` by a request of the lane still running. */
function freeSlot(lane, t) {
  const taken = new Set();
  for (const r of lane.open.values()) {
    if (r.end === null || r.end > t) taken.add(r.slot);
  }
  let slot = 0;
  while (taken.has(slot)) slot += 1;
  return slot;
}

/** The nearest-rank percentile of `values` (null when empty). */
function percentile(values, q) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1];
}

/** Splits a chunk of a newline-delimited JSON stream into whole lines; returns [lines, the rest]. */
function splitLines(buffered, chunk) {
  const text = buffered + chunk;
  const parts = text.split("\n");
  const rest = parts.pop();
  return [parts.filter((l) => l.trim() !== ""), rest];
}

const exported = { Model, outcomeOf, percentile, splitLines, eventTime };
if (typeof module !== "undefined" && module.exports) {
  module.exports = exported;
} else {
  globalThis.fcemuModel = exported;
}
