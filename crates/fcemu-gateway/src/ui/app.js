// The timeline page: follows `/_fcemu/events?follow=true` into the model (model.js) and draws it on a canvas
// (one lane per instance, grouped by function, on a time axis that follows the present, zoomed with the
// wheel and panned by dragging), with the cold starts, the live instances and billing beside it.
"use strict";

// model.js's names are globals of the page too: reach them through the one object it exports.
const timeline = globalThis.fcemuModel;

const css = getComputedStyle(document.documentElement);
const color = (name) => css.getPropertyValue(`--${name}`).trim();
const COLORS = {
  instanceCreate: color("instance-create"),
  runtimeInit: color("runtime-init"),
  engineStart: color("engine-start"),
  initHook: color("init-hook"),
  ok: color("ok"),
  error: color("error"),
  init_error: color("init-error"),
  timeout: color("timeout"),
  retried: color("retried"),
  frozen: color("frozen"),
  thaw: color("thaw"),
  prestop: color("prestop"),
  session: color("session"),
  line: color("line"),
  muted: color("muted"),
  fg: color("fg"),
};

const AXIS = 22;
const GUTTER = 190;
const GROUP = 20;
const SLOT = 7;
/** The rows under a lane's requests where the sessions it held are drawn, stacked as they overlap. */
const SESSION_ROW = 6;
const SESSION_ROWS = 4;
const LANES_SHOWN = 400;

let model = new timeline.Model();
const view = { end: Date.now(), span: 60_000, follow: true, autoFit: true, width: 800 };
let hits = [];
let dirty = true;

const canvas = document.getElementById("timeline");
const ctx = canvas.getContext("2d");
const tooltip = document.getElementById("tooltip");
const followButton = document.getElementById("follow");

// ---- the event stream ------------------------------------------------------------------------------------

async function follow() {
  const status = document.getElementById("status");
  for (;;) {
    try {
      const response = await api("/_fcemu/events?follow=true");
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      // The stream replays the run from its start: a reconnect starts a fresh model.
      model = new timeline.Model();
      lastColdStarts = -1;
      modelChanged();
      status.textContent = "live";
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let rest = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        let lines;
        [lines, rest] = timeline.splitLines(rest, decoder.decode(value, { stream: true }));
        for (const line of lines) {
          try {
            model.apply(JSON.parse(line));
          } catch (_) {
            // A line that is not JSON is skipped.
          }
        }
        dirty = true;
        modelChanged();
        status.textContent = `live · ${model.events} events · ${model.lanes.size} instances`;
      }
      status.textContent = "fcemu up has stopped";
    } catch (e) {
      status.textContent = `not connected (${e.message}); retrying`;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// Until the user zooms or pans, the view holds the whole run so far, up to the present (ten minutes at most;
// past that it follows the present).
function fitSpan() {
  if (!view.autoFit || model.first === null) return;
  const seen = Math.max(Date.now(), model.last) - model.first;
  view.span = Math.min(Math.max(seen * 1.05 + 1000, 10_000), 10 * 60_000);
}

// ---- drawing ---------------------------------------------------------------------------------------------

function laneHeight(lane) {
  let slots = 1;
  for (const r of lane.requests) slots = Math.max(slots, r.slot + 1);
  let sessionRows = 0;
  for (const x of lane.sessions) sessionRows = Math.max(sessionRows, Math.min(x.slot, SESSION_ROWS - 1) + 1);
  return 14 + 4 + Math.min(slots, 8) * SLOT + 6 + sessionRows * SESSION_ROW;
}

function layout() {
  const rows = [];
  let y = AXIS;
  const groups = model.byFunction();
  // The newest lanes of each function, so hundreds of instances keep the page quick.
  const perFunction = Math.max(1, Math.floor(LANES_SHOWN / Math.max(groups.size, 1)));
  for (const [name, lanes] of groups) {
    rows.push({ kind: "group", name, y, h: GROUP });
    y += GROUP;
    for (const lane of lanes.slice(-perFunction)) {
      const h = laneHeight(lane);
      rows.push({ kind: "lane", lane, y, h });
      y += h;
    }
  }
  return { rows, height: Math.max(y + 8, 120) };
}

function draw() {
  fitSpan();
  if (view.follow) view.end = Date.now() + view.span * 0.03;
  const { rows, height } = layout();
  const dpr = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth || 800;
  if (canvas.height !== Math.round(height * dpr) || canvas.width !== Math.round(cssWidth * dpr)) {
    canvas.style.height = `${height}px`;
    canvas.width = Math.round(cssWidth * dpr);
    canvas.height = Math.round(height * dpr);
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssWidth, height);
  view.width = cssWidth - GUTTER;
  const t0 = view.end - view.span;
  const x = (t) => GUTTER + ((t - t0) / view.span) * view.width;
  hits = [];

  drawAxis(t0, x, height);
  ctx.save();
  for (const row of rows) {
    if (row.kind === "group") {
      ctx.fillStyle = COLORS.fg;
      ctx.font = "600 12px system-ui, sans-serif";
      ctx.fillText(row.name, 8, row.y + 14);
      ctx.strokeStyle = COLORS.line;
      ctx.beginPath();
      ctx.moveTo(0, row.y + GROUP - 0.5);
      ctx.lineTo(cssWidth, row.y + GROUP - 0.5);
      ctx.stroke();
      continue;
    }
    drawLane(row.lane, row.y, row.h, x, t0);
  }
  ctx.restore();
  document.getElementById("span-label").textContent = `· ${formatSpan(view.span)} shown`;
}

function drawAxis(t0, x, height) {
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = COLORS.muted;
  ctx.strokeStyle = COLORS.line;
  const step = niceStep(view.span / 8);
  const first = Math.ceil(t0 / step) * step;
  for (let t = first; t <= view.end; t += step) {
    const px = Math.round(x(t)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(px, AXIS - 4);
    ctx.lineTo(px, height);
    ctx.stroke();
    ctx.fillText(clock(t, step), px + 3, 12);
  }
}

function drawLane(lane, y, h, x, t0) {
  const t1 = view.end;
  const end = lane.end ?? Date.now();
  // The lane's line, its label, a P for a provisioned instance.
  ctx.fillStyle = COLORS.fg;
  ctx.font = "12px ui-monospace, monospace";
  ctx.fillText(shortId(lane.instanceId) + (lane.provisioned ? "  P" : ""), 16, y + 15);
  ctx.strokeStyle = COLORS.line;
  ctx.beginPath();
  ctx.moveTo(GUTTER, y + h - 0.5);
  ctx.lineTo(GUTTER + view.width, y + h - 0.5);
  ctx.stroke();
  if (end < t0 || lane.start > t1) return;
  const clipX = (t) => Math.min(Math.max(x(t), GUTTER), GUTTER + view.width);
  const bar = (from, to, top, height, fill, hit, minWidth = 1) => {
    if (to < t0 || from > t1) return;
    const a = clipX(from);
    const w = Math.max(clipX(to) - a, minWidth);
    ctx.fillStyle = fill;
    ctx.fillRect(a, top, w, height);
    if (hit) hits.push({ x: a, y: top, w: Math.max(w, 3), h: height, ...hit });
  };

  // Life: a thin line from creation to destroy.
  bar(lane.start, end, y + 10, 1, COLORS.line);
  // Frozen spans, shaded over the whole lane.
  for (const [from, to] of lane.frozen) {
    bar(from, to ?? end, y + 1, h - 2, COLORS.frozen, { kind: "frozen", lane, from, to: to ?? end });
  }
  // Creating: three parts, Runtime Init with the engine's share lighter.
  const top = y + 4;
  if (lane.instanceCreate) {
    const [a, b] = lane.instanceCreate;
    bar(a, b, top, 12, COLORS.instanceCreate, {
      kind: "part", name: "Instance Create", lane, from: a, to: b, ms: lane.instanceCreateMs,
    });
  }
  if (lane.runtimeInit) {
    const [a, b] = lane.runtimeInit;
    bar(a, b, top, 12, COLORS.runtimeInit, {
      kind: "part", name: "Runtime Init", lane, from: a, to: b, ms: lane.runtimeInitMs,
    });
    if (lane.engineStartMs !== null) {
      bar(a, a + lane.engineStartMs, top, 12, COLORS.engineStart, {
        kind: "part", name: "Runtime Init: engine start", lane, from: a, to: a + lane.engineStartMs,
        ms: lane.engineStartMs,
      });
    }
  }
  if (lane.initHook) {
    const [a, b] = lane.initHook;
    bar(a, b ?? end, top, 12, lane.initFailed ? COLORS.init_error : COLORS.initHook, {
      kind: "hook", name: "Init Hook", lane, from: a, to: b ?? end, requestId: lane.initHookRequestId,
      ms: lane.initHookMs,
    });
  }
  // Thaws: a tick at the moment (under the request that thawed it).
  ctx.fillStyle = COLORS.thaw;
  for (const t of lane.thaws) {
    if (t >= t0 && t <= t1) ctx.fillRect(Math.round(x(t)), y + 2, 1, h - 4);
  }
  // Requests, stacked by slot, coloured by outcome. Bars narrower than a pixel at the same spot are drawn once.
  const reqTop = y + 18;
  const lastPixel = new Map();
  for (const r of lane.requests) {
    const to = r.end ?? end;
    if (to < t0 || r.start > t1) continue;
    const slot = Math.min(r.slot, 7);
    const px = Math.floor(clipX(r.start) / 3);
    if (to - r.start < (3 * view.span) / view.width && lastPixel.get(slot) === px) continue;
    lastPixel.set(slot, px);
    // At least 3 px: a millisecond request on a minutes-wide axis is still seen (and hovered).
    bar(r.start, to, reqTop + slot * SLOT, SLOT - 1, COLORS[r.outcome || "ok"] || COLORS.ok, {
      kind: "request", lane, request: r, from: r.start, to,
    }, 3);
  }
  // Sessions it held: a band each along the lane's foot, from the session's start to its end, stacked in
  // rows as they overlap (the last row takes the rest).
  for (const session of lane.sessions) {
    const row = Math.min(session.slot, SESSION_ROWS - 1);
    bar(session.start, session.end ?? end, y + h - (row + 1) * SESSION_ROW, SESSION_ROW - 2, COLORS.session, {
      kind: "session", lane, session, from: session.start, to: session.end ?? end,
    }, 3);
  }
  if (lane.preStop) {
    const p = lane.preStop;
    bar(p.start, p.end ?? end, top, 12, COLORS.prestop, {
      kind: "hook", name: "PreStop", lane, from: p.start, to: p.end ?? end, requestId: p.requestId,
    });
  }
  if (lane.destroyed && lane.destroyed.at >= t0 && lane.destroyed.at <= t1) {
    const px = x(lane.destroyed.at);
    ctx.fillStyle = COLORS.fg;
    ctx.fillRect(px, y + 2, 2, h - 4);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText(`✕ ${lane.destroyed.reason}`, px + 5, y + 14);
    hits.push({ x: px - 2, y: y + 2, w: 60, h: 14, kind: "destroyed", lane });
  }
}

// ---- interaction ------------------------------------------------------------------------------------------

function hitAt(event) {
  const rect = canvas.getBoundingClientRect();
  const px = event.clientX - rect.left;
  const py = event.clientY - rect.top;
  for (let i = hits.length - 1; i >= 0; i -= 1) {
    const h = hits[i];
    if (px >= h.x && px <= h.x + h.w && py >= h.y && py <= h.y + h.h) return h;
  }
  return null;
}

function describe(hit) {
  const ms = (a, b) => `${fmt(b - a)} ms`;
  switch (hit.kind) {
    case "request": {
      const r = hit.request;
      return [
        `request ${r.requestId}`,
        `instance ${hit.lane.instanceId}`,
        `status ${r.status ?? "running"} · ${r.outcome ?? "running"}${r.coldStart ? " · cold start" : ""}`,
        `duration ${r.durationMs !== null ? `${fmt(r.durationMs)} ms` : ms(r.start, hit.to)}`,
        r.error ? `error: ${r.error}` : "",
      ].filter(Boolean).join("\n");
    }
    case "part":
    case "hook":
      return `${hit.name}: ${hit.ms !== undefined && hit.ms !== null ? `${fmt(hit.ms)} ms` : ms(hit.from, hit.to)}\ninstance ${hit.lane.instanceId}`;
    case "frozen":
      return `frozen ${ms(hit.from, hit.to)}\ninstance ${hit.lane.instanceId}`;
    case "session":
      return [
        `session ${hit.session.sessionId} (${hit.session.affinity})`,
        `held by instance ${hit.lane.instanceId}`,
        `${hit.session.end === null ? "live for" : "lived"} ${ms(hit.from, hit.to)}`,
        hit.session.reason ? `ended: ${hit.session.reason}` : "",
      ].filter(Boolean).join("\n");
    case "destroyed":
      return `destroyed: ${hit.lane.destroyed.reason}${hit.lane.destroyed.error ? `\n${hit.lane.destroyed.error}` : ""}`;
    default:
      return "";
  }
}

async function showLogs(hit) {
  const requestId = hit.kind === "request" ? hit.request.requestId : hit.requestId;
  const label = document.getElementById("logs-label");
  const pre = document.getElementById("logs");
  if (!requestId) return;
  label.textContent = `${hit.kind === "request" ? "request" : hit.name} ${requestId}`;
  const text = await api(`/_fcemu/logs?requestId=${encodeURIComponent(requestId)}`).then((r) => r.text());
  const lines = text.split("\n").filter(Boolean).map((l) => {
    try {
      const e = JSON.parse(l);
      return `${e.ts} ${e.stream === "stderr" ? "!" : "|"} ${e.line}`;
    } catch (_) {
      return l;
    }
  });
  pre.textContent = lines.length ? lines.join("\n") : "(no lines)";
}

let drag = null;
canvas.addEventListener("mousedown", (e) => {
  drag = { x: e.clientX, end: view.end, moved: false };
  canvas.classList.add("dragging");
});
window.addEventListener("mouseup", (e) => {
  canvas.classList.remove("dragging");
  if (drag && !drag.moved) {
    const hit = hitAt(e);
    if (hit) showLogs(hit);
  }
  drag = null;
});
window.addEventListener("mousemove", (e) => {
  if (drag) {
    const dx = e.clientX - drag.x;
    if (Math.abs(dx) > 2) {
      drag.moved = true;
      view.autoFit = false;
      setFollow(false);
      view.end = drag.end - (dx / view.width) * view.span;
      dirty = true;
    }
    return;
  }
  const hit = e.target === canvas ? hitAt(e) : null;
  if (hit) {
    tooltip.textContent = describe(hit);
    tooltip.style.left = `${e.clientX + 12}px`;
    tooltip.style.top = `${e.clientY + 12}px`;
    tooltip.style.display = "block";
  } else {
    tooltip.style.display = "none";
  }
});
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const rect = canvas.getBoundingClientRect();
  const at = view.end - view.span + ((e.clientX - rect.left - GUTTER) / view.width) * view.span;
  zoom(Math.pow(1.15, e.deltaY / 100), at);
}, { passive: false });

function zoom(factor, at) {
  view.autoFit = false;
  const span = Math.min(Math.max(view.span * factor, 50), 24 * 3600_000);
  if (!view.follow && at !== undefined) view.end = at + (view.end - at) * (span / view.span);
  view.span = span;
  dirty = true;
}

function setFollow(on) {
  view.follow = on;
  followButton.setAttribute("aria-pressed", String(on));
  dirty = true;
}

followButton.addEventListener("click", () => setFollow(!view.follow));
document.getElementById("zoom-in").addEventListener("click", () => zoom(1 / 1.5));
document.getElementById("zoom-out").addEventListener("click", () => zoom(1.5));

// ---- the loop ---------------------------------------------------------------------------------------------

// The text panels follow the event stream, not the animation frames: a hidden tab gets no frames, and a
// headless browser may run none before it reads the page. At most two updates a second under a flood of
// events, and always one after the last of them.
let lastSummary = 0;
let lastColdStarts = -1;
let summaryTimer = null;
function modelChanged() {
  if (summaryTimer !== null) return;
  const wait = Math.max(0, 500 - (Date.now() - lastSummary));
  summaryTimer = setTimeout(() => {
    summaryTimer = null;
    lastSummary = Date.now();
    summarize();
    fillAsynchronous();
    fillSessions();
    if (model.coldStarts.length !== lastColdStarts) {
      lastColdStarts = model.coldStarts.length;
      fillColdStarts();
    }
  }, wait);
}

let lastDraw = 0;
function frame() {
  // Following, the axis moves on its own: ten frames a second are enough for it.
  const now = Date.now();
  if (dirty || (view.follow && now - lastDraw > 100)) {
    draw();
    dirty = false;
    lastDraw = now;
  }
  requestAnimationFrame(frame);
}

window.addEventListener("resize", () => { dirty = true; });
follow();
poll();
requestAnimationFrame(frame);
