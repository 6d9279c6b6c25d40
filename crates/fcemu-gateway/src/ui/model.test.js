// The timeline's data code: lifecycle events (as /_fcemu/events gives them) into lanes and cold-start rows.
// `node --test crates/fcemu-gateway/src/ui/` runs it (scripts/test.sh does, in the Node.js runtime image).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { Model, outcomeOf, percentile, splitLines } = require("./model.js");

const T0 = Date.parse("2026-11-23T07:00:00.000Z");
/** An event `ms` after T0. */
function ev(ms, event, fields = {}) {
  return {
    ts: new Date(T0 + ms).toISOString(),
    event,
    functionName: "fixture",
    instanceId: "c-1",
    ...fields,
  };
}

/** A whole life: cold start with an Initializer, requests (two at once), a freeze and thaw, PreStop, reclaim. */
function life() {
  return [
    ev(0, "instance.creating", { provisioned: false }),
    ev(20, "instance.created", { durationMs: 19.6 }),
    ev(520, "instance.runtime_ready", { durationMs: 500.2, engineStartMs: 205.1, functionStartMs: 295.1 }),
    ev(521, "initializer.start", { requestId: "1-init" }),
    ev(721, "initializer.end", { requestId: "1-init", status: 200, durationMs: 200.4 }),
    ev(721, "instance.ready", {
      initDurationMs: 720.2, instanceCreateMs: 19.6, runtimeInitMs: 500.2, initHookMs: 200.4,
      engineStartMs: 205.1, functionStartMs: 295.1,
    }),
    ev(722, "invoke.start", { requestId: "1-a", coldStart: true }),
    ev(730, "invoke.start", { requestId: "1-b" }),
    ev(740, "invoke.end", { requestId: "1-a", status: 200, durationMs: 18 }),
    ev(760, "invoke.end", { requestId: "1-b", status: 502, durationMs: 30, error: "Process exited unexpectedly" }),
    ev(770, "invoke.start", { requestId: "1-c" }),
    ev(780, "invoke.end", { requestId: "1-c", status: 502, durationMs: 10, error: "timed out", timedOut: true }),
    ev(800, "instance.frozen"),
    ev(2800, "instance.thawed"),
    ev(2801, "invoke.start", { requestId: "1-d" }),
    ev(2805, "invoke.end", { requestId: "1-d", status: 200, durationMs: 4 }),
    ev(2900, "instance.frozen"),
    ev(5000, "prestop.start", { requestId: "1-stop" }),
    ev(5010, "prestop.end", { requestId: "1-stop", status: 200, durationMs: 10 }),
    ev(5100, "instance.destroyed", { reason: "idle" }),
  ];
}

function modelOf(events) {
  const m = new Model();
  for (const e of events) m.apply(e);
  return m;
}

test("a lane holds the three Creating parts with their own figures", () => {
  const lane = modelOf(life()).lanes.get("c-1");
  assert.deepEqual(lane.instanceCreate, [T0, T0 + 20]);
  assert.deepEqual(lane.runtimeInit, [T0 + 20, T0 + 520]);
  assert.deepEqual(lane.initHook, [T0 + 521, T0 + 721]);
  assert.equal(lane.instanceCreateMs, 19.6);
  assert.equal(lane.runtimeInitMs, 500.2);
  assert.equal(lane.engineStartMs, 205.1);
  assert.equal(lane.initHookMs, 200.4);
  assert.equal(lane.initHookRequestId, "1-init");
  assert.equal(lane.ready, T0 + 721);
  assert.equal(lane.initFailed, false);
});

test("requests become bars, stacked when they overlap, coloured by outcome", () => {
  const lane = modelOf(life()).lanes.get("c-1");
  const byId = Object.fromEntries(lane.requests.map((r) => [r.requestId, r]));
  assert.equal(lane.requests.length, 4);
  assert.equal(byId["1-a"].slot, 0);
  assert.equal(byId["1-b"].slot, 1, "1-b starts while 1-a runs");
  assert.equal(byId["1-c"].slot, 0, "1-a and 1-b have ended: the first slot is free again");
  assert.equal(byId["1-a"].outcome, "ok");
  assert.equal(byId["1-a"].coldStart, true);
  assert.equal(byId["1-b"].outcome, "error");
  assert.equal(byId["1-c"].outcome, "timeout");
  assert.deepEqual([byId["1-d"].start, byId["1-d"].end], [T0 + 2801, T0 + 2805]);
  assert.equal(lane.open.size, 0);
});

test("frozen spans, thaws, PreStop and the destroy with its reason", () => {
  const lane = modelOf(life()).lanes.get("c-1");
  assert.deepEqual(lane.frozen, [[T0 + 800, T0 + 2800], [T0 + 2900, T0 + 5100]], "the last span ends with the instance");
  assert.deepEqual(lane.thaws, [T0 + 2800]);
  assert.equal(lane.preStop.start, T0 + 5000);
  assert.equal(lane.preStop.end, T0 + 5010);
  assert.equal(lane.preStop.requestId, "1-stop");
  assert.deepEqual(lane.destroyed, { at: T0 + 5100, reason: "idle", error: null });
  assert.equal(lane.end, T0 + 5100);
});

test("an instance destroyed mid-request or mid-Initializer closes what was open", () => {
  const m = modelOf([
    ev(0, "instance.creating"),
    ev(10, "instance.created", { durationMs: 10 }),
    ev(20, "instance.runtime_ready", { durationMs: 10 }),
    ev(21, "initializer.start", { requestId: "1-i" }),
    ev(50, "initializer.end", { requestId: "1-i", status: 500, error: "boom" }),
    ev(60, "instance.destroyed", { reason: "init_failed", error: "boom" }),
  ]);
  const lane = m.lanes.get("c-1");
  assert.equal(lane.initFailed, true);
  assert.equal(lane.destroyed.reason, "init_failed");
  assert.equal(m.coldStarts.length, 0, "no cold start completed");

  const crashed = modelOf([
    ev(0, "instance.creating"),
    ev(5, "invoke.start", { requestId: "1-x" }),
    ev(9, "instance.destroyed", { reason: "exited" }),
  ]).lanes.get("c-1");
  assert.equal(crashed.requests[0].end, T0 + 9);
  assert.equal(crashed.open.size, 0);
});

test("lanes group by function in order of appearance; provisioned instances are marked", () => {
  const m = modelOf([
    ev(0, "instance.creating", { functionName: "b", instanceId: "c-b1", provisioned: true }),
    ev(1, "instance.creating", { functionName: "a", instanceId: "c-a1" }),
    ev(2, "instance.creating", { functionName: "b", instanceId: "c-b2" }),
    ev(3, "provision.changed", { functionName: "b", instanceId: undefined }),
  ]);
  const groups = m.byFunction();
  assert.deepEqual([...groups.keys()], ["b", "a"]);
  assert.deepEqual(groups.get("b").map((l) => l.instanceId), ["c-b1", "c-b2"]);
  assert.equal(m.lanes.get("c-b1").provisioned, true);
  assert.equal(m.lanes.get("c-b2").provisioned, false);
  assert.equal(m.first, T0);
  assert.equal(m.last, T0 + 3);
});

test("cold starts: one row each, and p50 and p95 per function", () => {
  const m = new Model();
  const ready = (i, total, fn = "f") =>
    m.apply(ev(i, "instance.ready", {
      functionName: fn, instanceId: `c-${fn}${i}`, initDurationMs: total,
      instanceCreateMs: 10, runtimeInitMs: total - 30, initHookMs: 20,
    }));
  for (let i = 1; i <= 20; i += 1) ready(i, 100 + i);
  ready(30, 900, "g");
  assert.equal(m.coldStarts.length, 21);
  assert.equal(m.coldStarts[0].engineStartMs, null, "no split where fcemu showed Runtime Init whole");
  const [f, g] = m.coldStartPercentiles();
  assert.equal(f.functionName, "f");
  assert.equal(f.count, 20);
  assert.equal(f.initDurationMs.p50, 110);
  assert.equal(f.initDurationMs.p95, 119);
  assert.equal(f.runtimeInitMs.p50, 80);
  assert.equal(g.initDurationMs.p50, 900);
});

test("outcomes, percentiles and the stream's line splitting", () => {
  assert.equal(outcomeOf({ status: 200 }), "ok");
  assert.equal(outcomeOf({ status: 404 }), "ok", "the function's own answer");
  assert.equal(outcomeOf({ status: 502, error: "x" }), "error");
  assert.equal(outcomeOf({ status: 200, errorType: "InitializationError" }), "init_error");
  assert.equal(outcomeOf({ status: 502, timedOut: true, error: "t" }), "timeout");
  assert.equal(percentile([], 0.5), null);
  assert.equal(percentile([3, 1, 2], 0.5), 2);
  assert.deepEqual(splitLines("", '{"a":1}\n{"b"'), [['{"a":1}'], '{"b"']);
  assert.deepEqual(splitLines('{"b"', ':2}\n\n'), [['{"b":2}'], ""]);
});

test("events that are not lifecycle events are ignored", () => {
  const m = new Model();
  m.apply(null);
  m.apply({ event: "instance.creating", ts: "not a time", instanceId: "c-1" });
  m.apply({ ts: new Date(T0).toISOString() });
  assert.equal(m.lanes.size, 0);
  assert.equal(m.events, 0);
});

test("asynchronous work and triggers are counted per function", () => {
  const m = new Model();
  const at = (ms, event, functionName) => ({ ts: new Date(T0 + ms).toISOString(), event, functionName });
  for (const e of [
    at(0, "trigger.fired", "worker"),
    at(1, "async.enqueued", "worker"),
    at(2, "async.retried", "worker"),
    at(3, "async.retried", "worker"),
    at(4, "destination.delivered", "worker"),
    at(5, "async.enqueued", "done"),
    at(6, "async.expired", "done"),
  ]) m.apply(e);
  assert.deepEqual(m.asynchronous.get("worker"), { enqueued: 1, retried: 2, expired: 0, delivered: 1, fired: 1 });
  assert.deepEqual(m.asynchronous.get("done"), { enqueued: 1, retried: 0, expired: 1, delivered: 0, fired: 0 });
  assert.equal(m.lanes.size, 0, "no lane for events of no instance");
});

test("sessions are spans on the lane of the instance that held them, ended as the events say", () => {
  const m = new Model();
  const at = (ms, event, extra) => ({
    ts: new Date(T0 + ms).toISOString(), event, functionName: "chat", instanceId: "c-1", ...extra,
  });
  for (const e of [
    at(0, "instance.creating"),
    at(10, "session.started", { sessionId: "a", sessionAffinity: "HEADER_FIELD" }),
    at(20, "session.started", { sessionId: "b", sessionAffinity: "HEADER_FIELD" }),
    at(500, "session.ended", { sessionId: "a", reason: "idle" }),
    at(900, "instance.destroyed", { reason: "exited" }),
  ]) m.apply(e);
  const lane = m.lanes.get("c-1");
  assert.equal(lane.sessions.length, 2);
  assert.deepEqual(
    m.sessions.map((s) => [s.sessionId, s.affinity, s.end - T0, s.reason]),
    [["a", "HEADER_FIELD", 500, "idle"], ["b", "HEADER_FIELD", 900, "instance_destroyed"]],
  );
  assert.deepEqual(m.sessions.map((s) => s.slot), [0, 1], "overlapping sessions take rows of their own");
});
