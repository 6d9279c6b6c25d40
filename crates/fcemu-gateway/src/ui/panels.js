// The page's panels beside the timeline: what the canvas shows written out as text (one entry per lane, for
// assistive technology and the browser test), the cold starts with their percentiles, and the live instances
// and billing. Loaded before app.js, whose `model` and constants these read when they run.
"use strict";

// ---- fcemu's API ------------------------------------------------------------------------------------------

// Off loopback fcemu's API needs its token: `up` prints this page's address with the token in the fragment
// (`#token=...`), which the browser keeps to itself, and every call here sends it back as a header.
const API_TOKEN = new URLSearchParams(location.hash.slice(1)).get("token");

function api(path) {
  return fetch(path, API_TOKEN ? { headers: { Authorization: `Bearer ${API_TOKEN}` } } : {});
}

// ---- what the canvas shows, as text (assistive technology, tests) -----------------------------------------

function summarize() {
  const list = document.getElementById("lanes-summary");
  const items = [];
  for (const lane of [...model.lanes.values()].slice(-LANES_SHOWN)) {
    const li = document.createElement("li");
    li.dataset.instance = lane.instanceId;
    li.dataset.function = lane.functionName;
    li.dataset.provisioned = String(lane.provisioned);
    const parts = [
      ["instance-create", "Instance Create", lane.instanceCreateMs],
      ["runtime-init", "Runtime Init", lane.runtimeInitMs],
      ["init-hook", "Init Hook", lane.initHookMs],
    ];
    for (const [key, label, ms] of parts) {
      if (ms === null) continue;
      const s = document.createElement("span");
      s.dataset.segment = key;
      s.dataset.ms = String(ms);
      s.textContent = `${label} ${fmt(ms)} ms; `;
      li.appendChild(s);
    }
    const outcomes = {};
    for (const r of lane.requests) outcomes[r.outcome || "running"] = (outcomes[r.outcome || "running"] || 0) + 1;
    const requests = document.createElement("span");
    requests.dataset.requests = String(lane.requests.length);
    requests.textContent = `${lane.requests.length} requests ${JSON.stringify(outcomes)}; `;
    li.appendChild(requests);
    const frozen = document.createElement("span");
    frozen.dataset.frozen = String(lane.frozen.length);
    frozen.dataset.thaws = String(lane.thaws.length);
    frozen.textContent = `${lane.frozen.length} frozen spans, ${lane.thaws.length} thaws; `;
    li.appendChild(frozen);
    if (lane.sessions.length > 0) {
      const s = document.createElement("span");
      s.dataset.sessions = lane.sessions.map((x) => x.sessionId).join(" ");
      s.textContent = `sessions held: ${lane.sessions.map((x) => `${x.sessionId} (${x.reason || "live"})`).join(", ")}; `;
      li.appendChild(s);
    }
    if (lane.preStop) {
      const s = document.createElement("span");
      s.dataset.prestop = lane.preStop.end ? String(lane.preStop.end - lane.preStop.start) : "running";
      s.textContent = `PreStop; `;
      li.appendChild(s);
    }
    if (lane.destroyed) {
      li.dataset.destroyed = lane.destroyed.reason;
      li.appendChild(document.createTextNode(`destroyed: ${lane.destroyed.reason}`));
    }
    items.push(li);
  }
  list.replaceChildren(...items);
}

// ---- cold starts ------------------------------------------------------------------------------------------

function fillColdStarts() {
  const body = document.querySelector("#cold-starts tbody");
  const rows = model.coldStarts.slice(-200).reverse().map((c) => {
    const tr = document.createElement("tr");
    tr.dataset.instance = c.instanceId;
    const total = c.initDurationMs || 1;
    const pct = (v) => `${Math.max(0, (100 * (v || 0)) / total)}%`;
    const runtimeTitle = c.engineStartMs !== null
      ? `Runtime Init ${c.runtimeInitMs} ms (engine start ${c.engineStartMs} ms, function start-up ${c.functionStartMs} ms)`
      : `Runtime Init ${c.runtimeInitMs} ms`;
    tr.innerHTML = `<td></td><td></td><td><div class="bar">
        <span style="width:${pct(c.instanceCreateMs)};background:var(--instance-create)" title="Instance Create ${c.instanceCreateMs} ms"></span>
        ${c.engineStartMs !== null
          ? `<span style="width:${pct(c.engineStartMs)};background:var(--engine-start)" title="${runtimeTitle}"></span>
             <span style="width:${pct(c.functionStartMs)};background:var(--runtime-init)" title="${runtimeTitle}"></span>`
          : `<span style="width:${pct(c.runtimeInitMs)};background:var(--runtime-init)" title="${runtimeTitle}"></span>`}
        <span style="width:${pct(c.initHookMs)};background:var(--init-hook)" title="Init Hook ${c.initHookMs} ms"></span>
      </div></td><td class="num">${fmt(c.instanceCreateMs)}</td><td class="num">${fmt(c.runtimeInitMs)}</td>
      <td class="num">${fmt(c.initHookMs)}</td><td class="num">${fmt(c.initDurationMs)}</td>`;
    tr.children[0].textContent = c.functionName;
    tr.children[1].textContent = shortId(c.instanceId);
    return tr;
  });
  body.replaceChildren(...rows);
  const pBody = document.querySelector("#cold-percentiles tbody");
  pBody.replaceChildren(...model.coldStartPercentiles().map((p) => {
    const tr = document.createElement("tr");
    const both = (part) => `${fmt(part.p50)} / ${fmt(part.p95)}`;
    tr.innerHTML = `<td></td><td class="num">${p.count}</td><td class="num">${both(p.initDurationMs)}</td>
      <td class="num">${both(p.instanceCreateMs)}</td><td class="num">${both(p.runtimeInitMs)}</td>
      <td class="num">${both(p.initHookMs)}</td>`;
    tr.children[0].textContent = p.functionName;
    return tr;
  }));
}

// ---- asynchronous work: what the queue and the triggers did, per function ----------------------------------

function fillAsynchronous() {
  const body = document.querySelector("#asynchronous tbody");
  body.replaceChildren(...[...model.asynchronous].map(([functionName, c]) => {
    const tr = document.createElement("tr");
    tr.dataset.asyncFunction = functionName;
    for (const key of ["enqueued", "retried", "expired", "delivered", "fired"]) tr.dataset[key] = String(c[key]);
    for (const value of [functionName, c.enqueued, c.retried, c.expired, c.delivered, c.fired]) {
      const td = document.createElement("td");
      td.textContent = String(value);
      if (typeof value === "number") td.className = "num";
      tr.appendChild(td);
    }
    return tr;
  }));
}

// ---- sessions: which instance held each, and how it ended (the newest 200) --------------------------------

function fillSessions() {
  const body = document.querySelector("#sessions tbody");
  const shown = model.sessions.slice(-200).reverse();
  body.replaceChildren(...shown.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.sessionId = s.sessionId;
    tr.dataset.instanceId = s.instanceId;
    tr.dataset.ended = s.reason || "";
    const lived = (s.end ?? Date.now()) - s.start;
    // Ids of 32 characters (FC's) are cut to fit beside the rest; hovering the row shows the whole one.
    tr.title = s.sessionId;
    const shown = s.sessionId.length > 14 ? `${s.sessionId.slice(0, 12)}…` : s.sessionId;
    for (const value of [shown, s.functionName, shortId(s.instanceId), `${fmt(lived / 1000, 1)} s`,
      s.reason || "live"]) {
      const td = document.createElement("td");
      td.textContent = value;
      tr.appendChild(td);
    }
    return tr;
  }));
}

// ---- now: live instances and billing ----------------------------------------------------------------------

async function poll() {
  for (;;) {
    try {
      const [instances, billing] = await Promise.all([
        api("/_fcemu/instances").then((r) => r.json()),
        api("/_fcemu/billing").then((r) => r.json()),
      ]);
      fillTable("#instances", instances.instances || [], (i) => [
        shortId(i.instanceId), i.functionName, i.state + (i.provisioned ? " (provisioned)" : ""), i.inFlight,
      ]);
      fillTable("#billing", billing.functions || [], (b) => [
        b.functionName, b.invocations, fmt(b.activeSeconds, 3), fmt(b.frozenSeconds, 3), fmt(b.gbSeconds, 3),
      ]);
    } catch (_) {
      // fcemu up has stopped; the event stream says so.
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function fillTable(selector, items, cells) {
  const body = document.querySelector(`${selector} tbody`);
  body.replaceChildren(...items.map((item) => {
    const tr = document.createElement("tr");
    cells(item).forEach((value, i) => {
      const td = document.createElement("td");
      td.textContent = String(value);
      if (typeof value === "number" || i > 0 && /^[\d.]+$/.test(String(value))) td.className = "num";
      tr.appendChild(td);
    });
    return tr;
  }));
}

// ---- formatting -------------------------------------------------------------------------------------------

function fmt(v, digits = 2) {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "–";
}
function shortId(id) {
  return id ? id.split("-").slice(0, 3).join("-") : "";
}
function niceStep(raw) {
  const steps = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000];
  return steps.find((s) => s >= raw) || 3_600_000;
}
function clock(t, step) {
  const d = new Date(t);
  const hms = d.toTimeString().slice(0, 8);
  return step < 1000 ? `${hms}.${String(d.getMilliseconds()).padStart(3, "0")}` : hms;
}
function formatSpan(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`;
}
