// takt live dashboard: plain JavaScript, no dependencies, no network beyond
// this server. Reads API v1 with the token kept in this tab's session
// storage; follows /v1/stream (server-sent events read through fetch, so the
// token stays in a header) and redraws the open view when events arrive or
// the plan changes. Every time is shown in the local zone of its place,
// with the zone's abbreviation.
"use strict";

const STAGES = ["released", "inland", "port_arrival", "processing", "yard", "loading",
  "voyage", "discharge", "certification", "delivery"];
const STAGE_LABEL = {
  released: "Released", inland: "Inland", port_arrival: "Port arrival", processing: "Processing",
  yard: "Yard", loading: "Loading", voyage: "Voyage", discharge: "Discharge",
  certification: "Certification", delivery: "Delivery",
};
const VIEWS = ["network", "terminal", "vessels", "vehicle", "insight", "alerts"];

const state = {
  token: sessionStorage.getItem("takt-token") || "",
  view: "network",
  me: null,          // /v1/network answer
  terminal: null,    // selected location id
  windowStart: null, // ms, terminal view
  vin: "",
  alertKind: "",
  voyage: null,
  live: false,
  lastChange: null,
  abort: null,
};

// ------------------------------------------------------------ helpers

const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const fmtInt = (n) => Number(n).toLocaleString("en-US");
const fmt1 = (n) => Number(n).toLocaleString("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 1 });

const fmtCache = new Map();
function formatter(tz, opts) {
  const key = tz + JSON.stringify(opts);
  if (!fmtCache.has(key)) fmtCache.set(key, new Intl.DateTimeFormat("en-GB", { timeZone: tz, ...opts }));
  return fmtCache.get(key);
}
/** "Tue 03 Mar 14:05 PST" in the zone of the place. */
function localTime(iso, tz) {
  if (!iso) return "—";
  const d = new Date(iso);
  const parts = formatter(tz, { weekday: "short", day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit", hour12: false }).formatToParts(d);
  const get = (t) => (parts.find((p) => p.type === t) || {}).value || "";
  return `${get("weekday")} ${get("day")} ${get("month")} ${get("hour")}:${get("minute")} ${zoneAbbrev(tz, d.getTime())}`;
}
/** The zone's abbreviation at an instant (PDT, EST), else its UTC offset (UTC+9). */
function zoneAbbrev(tz, ms) {
  const key = "abbr" + tz;
  if (!fmtCache.has(key)) fmtCache.set(key, new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "short" }));
  const parts = fmtCache.get(key).formatToParts(new Date(ms));
  const name = (parts.find((p) => p.type === "timeZoneName") || {}).value || tz;
  if (name === "GMT" || name === "UTC") return "UTC";
  return name.replace(/^GMT/, "UTC");
}
function hm(ms, tz) {
  return formatter(tz, { hour: "2-digit", minute: "2-digit", hour12: false }).format(new Date(ms));
}
function dayLabel(ms, tz) {
  return formatter(tz, { day: "2-digit", month: "short" }).format(new Date(ms));
}
function duration(minutes) {
  const neg = minutes < 0;
  let m = Math.abs(Math.round(minutes));
  const d = Math.floor(m / 1440); m -= d * 1440;
  const h = Math.floor(m / 60); m -= h * 60;
  const s = d > 0 ? `${d} d ${h} h` : h > 0 ? `${h} h ${m} min` : `${m} min`;
  return neg ? `−${s}` : s;
}
function tzOf(loc) {
  const l = state.me && state.me.locations.find((x) => x.id === loc);
  return l ? l.tz : "UTC";
}
function locName(loc) {
  const l = state.me && state.me.locations.find((x) => x.id === loc);
  return l ? l.name : loc;
}

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  if (r.status === 401) { logout("The token was refused (revoked or wrong). Sign in again."); throw new Error("unauthorized"); }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.detail || `${r.status}`);
  return body;
}

function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 2500);
}

/** Time ticks between a and b (ms) at least `minPx` apart on a `width`-px axis. */
function timeTicks(a, b, width, minPx) {
  const steps = [15, 30, 60, 120, 180, 240, 360, 720, 1440, 2880, 10080].map((m) => m * 60000);
  const per = (b - a) / width;
  const step = steps.find((s) => s / per >= minPx) || steps[steps.length - 1];
  const out = [];
  for (let t = Math.ceil(a / step) * step; t <= b; t += step) out.push(t);
  return { ticks: out, step };
}

/** Local-time tick labels: hours, with the date at local midnight or the first tick. */
function tickLabel(t, tz, step, first) {
  if (step >= 1440 * 60000) return dayLabel(t, tz);
  const h = hm(t, tz);
  return (first || h === "00:00") ? `${dayLabel(t, tz)} ${h}` : h;
}

// ------------------------------------------------------------ shell

function logout(msg) {
  sessionStorage.removeItem("takt-token");
  state.token = "";
  if (state.abort) state.abort.abort();
  $("#tabs").hidden = true;
  $("#view").innerHTML = "";
  $("#login").hidden = false;
  $("#login-error").textContent = msg || "";
  $("#status").innerHTML = "";
  $("#token").focus();
}

async function login(token) {
  state.token = token;
  try {
    state.me = await api("/v1/network");
  } catch (e) {
    $("#login-error").textContent = e.message === "unauthorized" ? "The token was refused." : e.message;
    return;
  }
  sessionStorage.setItem("takt-token", token);
  $("#login").hidden = true;
  $("#tabs").hidden = false;
  startStream();
  const fromHash = location.hash.replace("#", "").split("/");
  if (VIEWS.includes(fromHash[0])) {
    if (fromHash[0] === "vehicle" && fromHash[1]) state.vin = decodeURIComponent(fromHash[1]);
    show(fromHash[0]);
  } else show("network");
}

function renderStatus() {
  const me = state.me;
  if (!me) return;
  const asOf = new Date(me.as_of);
  $("#status").innerHTML =
    `<span title="Server-sent events"><span class="dot ${state.live ? "on" : ""}"></span>${state.live ? "live" : "offline"}</span>` +
    `<span>plan v${me.plan_version} as of ${esc(asOf.toISOString().slice(0, 16).replace("T", " "))} UTC</span>` +
    `<span>${esc(me.tenant)} · ${esc(me.role)}</span>` +
    `<button type="button" id="logout">Sign out</button>`;
  $("#logout").onclick = () => logout("Signed out.");
}

function show(view) {
  state.view = view;
  for (const b of document.querySelectorAll("#tabs button")) {
    const on = b.dataset.view === view;
    b.setAttribute("aria-selected", on ? "true" : "false");
    b.tabIndex = on ? 0 : -1;
  }
  const hash = view === "vehicle" && state.vin ? `#vehicle/${state.vin}` : `#${view}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
  redraw();
}

let drawing = false, again = false;
async function redraw() {
  if (drawing) { again = true; return; }
  drawing = true;
  try {
    state.me = await api("/v1/network");
    renderStatus();
    await VIEW_RENDER[state.view]($("#view"));
    $("#view").dataset.view = state.view;
    $("#view").dataset.planVersion = state.me.plan_version;
  } catch (e) {
    if (e.message !== "unauthorized") $("#view").innerHTML = `<p class="error">${esc(e.message)}</p>`;
  } finally {
    drawing = false;
    if (again) { again = false; setTimeout(redraw, 0); }
  }
}

let pending = null;
function scheduleRedraw() {
  if (pending) return;
  pending = setTimeout(() => { pending = null; redraw(); }, 800);
}

async function startStream() {
  if (state.abort) state.abort.abort();
  const ctrl = new AbortController();
  state.abort = ctrl;
  while (!ctrl.signal.aborted && state.token) {
    try {
      const r = await fetch("/v1/stream", { headers: { Authorization: `Bearer ${state.token}` }, signal: ctrl.signal });
      if (!r.ok) throw new Error(String(r.status));
      state.live = true; renderStatus();
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          const ev = (block.match(/^event: (.*)$/m) || [])[1];
          const data = (block.match(/^data: (.*)$/m) || [])[1];
          if (!ev || !data) continue;
          const d = JSON.parse(data);
          state.lastChange = { ev, d, at: Date.now() };
          document.body.dataset.lastEvent = ev;
          if (ev === "events") {
            document.body.dataset.eventsSeen = String(Number(document.body.dataset.eventsSeen || 0) + d.n_stored);
            toast(`${fmtInt(d.n_stored)} new event${d.n_stored === 1 ? "" : "s"} stored`);
            scheduleRedraw();
          } else if (ev === "plan") {
            if (state.me && d.version !== state.me.plan_version) scheduleRedraw();
          }
        }
      }
    } catch (e) {
      if (ctrl.signal.aborted) return;
    }
    state.live = false; renderStatus();
    await new Promise((res) => setTimeout(res, 2000));
  }
}

// ------------------------------------------------------------ network view

async function renderNetwork(root) {
  const me = state.me;
  const alerts = await api("/v1/alerts?limit=1");
  const byStage = new Map();
  for (const s of me.by_stage) byStage.set(s.stage, (byStage.get(s.stage) || 0) + s.n_vehicles);
  const inPipeline = [...byStage.values()].reduce((a, b) => a + b, 0);
  let html = `<h1>Network overview <span class="muted">— ${esc(me.scenario)}, policy ${esc(me.policy || "—")}</span></h1>`;
  html += `<div class="kpis">
    <div class="kpi"><div class="v">${fmtInt(me.n_vehicles)}</div><div class="l">vehicles in the plan</div></div>
    <div class="kpi"><div class="v">${fmtInt(inPipeline)}</div><div class="l">on their way now</div></div>
    <div class="kpi ${alerts.n_matching ? "bad" : ""}"><div class="v">${fmtInt(alerts.n_matching)}</div><div class="l">alerts (vehicles at risk)</div></div>
    <div class="kpi"><div class="v">${fmtInt(me.n_voyages)}</div><div class="l">voyages in the horizon</div></div>
  </div>`;
  html += `<div class="grid"><div class="panel wide"><h2>Flows: where vehicles are and where they go</h2>${flowDiagram(me)}
    <div class="legend"><span>Node label: vehicles there now.</span><span>Line width: vehicles planned on the move (blue) or moved (grey).</span></div></div>`;
  html += `</div><div class="grid two"><div class="panel"><h2>Vehicles by stage (now)</h2>${stageBars(byStage)}</div>`;
  const rows = me.by_stage.slice().sort((a, b) => STAGES.indexOf(a.stage) - STAGES.indexOf(b.stage) || b.n_vehicles - a.n_vehicles);
  html += `<div class="panel"><h2>By stage and location</h2><div class="scroll"><table><thead><tr><th>Stage</th><th>Location</th><th class="num">Vehicles</th></tr></thead><tbody>` +
    (rows.map((r) => `<tr><td><i class="st-${r.stage} sw"></i>${esc(STAGE_LABEL[r.stage])}</td><td>${esc(locName(r.location))} <span class="muted">${esc(r.location)}</span></td><td class="num">${fmtInt(r.n_vehicles)}</td></tr>`).join("") ||
      `<tr><td colspan="3" class="empty">No vehicles yet.</td></tr>`) + `</tbody></table></div></div></div>`;
  root.innerHTML = html;
}

function stageBars(byStage) {
  const W = 640, row = 26, left = 110, right = 60;
  const max = Math.max(1, ...byStage.values());
  const h = STAGES.length * row + 34;
  let s = `<svg viewBox="0 0 ${W} ${h}" role="img" aria-label="Vehicles by stage">`;
  STAGES.forEach((st, i) => {
    const n = byStage.get(st) || 0;
    const w = (W - left - right) * n / max;
    const y = 6 + i * row;
    s += `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${STAGE_LABEL[st]}</text>`;
    s += `<rect class="st-${st}" x="${left}" y="${y + 3}" width="${Math.max(w, n ? 2 : 0)}" height="${row - 8}" rx="2"><title>${STAGE_LABEL[st]}: ${n} vehicles</title></rect>`;
    s += `<text x="${left + w + 6}" y="${y + 15}">${fmtInt(n)}</text>`;
  });
  s += `<text class="axis" x="${left}" y="${h - 4}">vehicles (count)</text></svg>`;
  return s;
}

function flowDiagram(me) {
  const kinds = ["plant", "export_port", "import_port"];
  const kindLabel = { plant: "Plants", export_port: "Export terminals", import_port: "Import ports (discharge, certification, delivery)" };
  const now = new Map();
  for (const s of me.by_stage) now.set(s.location, (now.get(s.location) || 0) + s.n_vehicles);
  const cols = kinds.map((k) => me.locations.filter((l) => l.kind === k));
  const W = 1180, top = 40, rowH = 46;
  const H = top + Math.max(...cols.map((c) => c.length)) * rowH + 20;
  const colX = [300, 640, 930];
  const pos = new Map();
  cols.forEach((c, i) => {
    const off = (H - top - c.length * rowH) / 2;
    c.forEach((l, j) => pos.set(l.id, { x: colX[i], y: top + off + j * rowH + rowH / 2 }));
  });
  const maxFlow = Math.max(1, ...me.flows.map((f) => f.n_planned + f.n_done));
  let s = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Network flows">`;
  kinds.forEach((k, i) => { s += `<text class="title" x="${colX[i]}" y="18" text-anchor="middle">${kindLabel[k]}</text>`; });
  for (const f of me.flows) {
    const a = pos.get(f.from), b = pos.get(f.to);
    if (!a || !b) continue;
    const mx = (a.x + b.x) / 2;
    const path = `M${a.x},${a.y} C${mx},${a.y} ${mx},${b.y} ${b.x},${b.y}`;
    if (f.n_done) s += `<path class="flow done" d="${path}" stroke-width="${1 + 14 * f.n_done / maxFlow}"><title>${esc(f.from)} → ${esc(f.to)}: ${f.n_done} moved</title></path>`;
    if (f.n_planned) s += `<path class="flow" d="${path}" stroke-width="${1 + 14 * f.n_planned / maxFlow}"><title>${esc(f.from)} → ${esc(f.to)}: ${f.n_planned} planned</title></path>`;
  }
  cols.forEach((c, i) => c.forEach((l) => {
    const p = pos.get(l.id);
    const n = now.get(l.id) || 0;
    const r = 5 + Math.min(12, Math.sqrt(n));
    s += `<circle class="node" cx="${p.x}" cy="${p.y}" r="${r}"><title>${esc(l.name)} (${esc(l.tz)}): ${n} vehicles now</title></circle>`;
    const anchor = i === 0 ? "end" : "start";
    if (i === 2) { /* the last column's labels go right, there is room */ }
    const dx = i === 0 ? -(r + 6) : r + 6;
    s += `<text x="${p.x + dx}" y="${p.y - 2}" text-anchor="${anchor}">${esc(shortName(l))}</text>`;
    s += `<text class="axis" x="${p.x + dx}" y="${p.y + 12}" text-anchor="${anchor}"><tspan>${fmtInt(n)} now · ${esc(zoneAbbrev(l.tz, Date.parse(me.as_of)))}</tspan></text>`;
  }));
  return s + "</svg>";
}
function shortName(l) {
  const n = l.name.length > 32 ? l.name.slice(0, 31) + "…" : l.name;
  return l.kind === "export_port" || l.kind === "import_port" ? `${n} (${l.id})` : n;
}

// ------------------------------------------------------------ terminal view

async function renderTerminal(root) {
  const me = state.me;
  const terminals = me.locations.filter((l) => l.kind === "export_port" || l.kind === "import_port");
  if (!state.terminal) state.terminal = terminals[0] && terminals[0].id;
  const asOf = Date.parse(me.as_of);
  if (state.windowStart === null) state.windowStart = Math.floor(asOf / 3600000) * 3600000 - 2 * 3600000;
  const hours = 12;
  const from = new Date(state.windowStart).toISOString(), to = new Date(state.windowStart + hours * 3600000).toISOString();
  const sched = await api(`/v1/terminals/${encodeURIComponent(state.terminal)}/schedule?from=${from}&to=${to}`);
  const tz = sched.tz;
  let html = `<h1>Terminal schedule <span class="muted">— ${esc(sched.name)} (${esc(sched.location)}), by the minute</span></h1>
  <div class="toolbar" role="group" aria-label="Terminal and window">
    <label for="term">Terminal</label>
    <select id="term">${terminals.map((t) => `<option value="${t.id}" ${t.id === state.terminal ? "selected" : ""}>${esc(t.name)} (${t.id})</option>`).join("")}</select>
    <button type="button" id="earlier" aria-label="6 hours earlier">◀ 6 h</button>
    <button type="button" id="nowbtn">Now</button>
    <button type="button" id="later" aria-label="6 hours later">6 h ▶</button>
    <span class="muted">${esc(localTime(from, tz))} – ${esc(localTime(to, tz))} · times in ${esc(tz)}</span>
  </div>`;
  html += `<div class="legend">${STAGES.filter((s) => ["port_arrival", "processing", "yard", "loading", "discharge", "certification"].includes(s)).map((s) => `<span><i class="st-${s}"></i>${STAGE_LABEL[s]}</span>`).join("")}<span><i class="closedsw"></i>closed (no shift)</span><span>faded: planned · solid: done</span></div>`;
  const pools = sched.resources.filter((r) => r.kind !== "yard");
  const yards = sched.resources.filter((r) => r.kind === "yard");
  html += `<div class="panel wide">${gantt(pools, state.windowStart, state.windowStart + hours * 3600000, tz, asOf)}</div>`;
  for (const y of yards) html += `<div class="panel wide"><h2>${esc(y.resource)}: vehicles in the yard (of ${fmtInt(y.capacity)} slots)</h2>${occupancy(y, state.windowStart, state.windowStart + hours * 3600000, tz, asOf)}</div>`;
  root.innerHTML = html;
  $("#term").onchange = (e) => { state.terminal = e.target.value; redraw(); };
  $("#earlier").onclick = () => { state.windowStart -= 6 * 3600000; redraw(); };
  $("#later").onclick = () => { state.windowStart += 6 * 3600000; redraw(); };
  $("#nowbtn").onclick = () => { state.windowStart = null; redraw(); };
}

/** Packs steps into rows so none overlap (first fit by start). */
function pack(steps) {
  const rows = [];
  for (const s of steps) {
    const a = Date.parse(s.start), b = Math.max(Date.parse(s.end), a + 60000);
    let r = rows.findIndex((end) => end <= a);
    if (r < 0) { rows.push(b); r = rows.length - 1; } else rows[r] = b;
    s._row = r;
  }
  return rows.length;
}

function timeAxis(a, b, x0, width, y, tz, label) {
  const { ticks, step } = timeTicks(a, b, width, 70);
  const X = (t) => x0 + (t - a) / (b - a) * width;
  let s = `<g class="axis">`;
  ticks.forEach((t, i) => {
    s += `<line x1="${X(t)}" x2="${X(t)}" y1="${y}" y2="${y + 5}"/><text x="${X(t)}" y="${y + 17}" text-anchor="middle">${esc(tickLabel(t, tz, step / 60000, i === 0))}</text>`;
  });
  s += `<text x="${x0 + width / 2}" y="${y + 34}" text-anchor="middle">${esc(label)}</text></g>`;
  return { svg: s, ticks, X };
}

function gantt(resources, a, b, tz, asOf) {
  const W = 1180, left = 190, right = 20, laneGap = 10, rowH = 18, top = 10;
  const width = W - left - right;
  const X = (t) => left + (Math.min(Math.max(t, a), b) - a) / (b - a) * width;
  let y = top, body = "";
  for (const r of resources) {
    const steps = r.steps.slice();
    const nRows = Math.max(1, pack(steps));
    const h = nRows * rowH + 8;
    // Closed time: outside every calendar window (no windows: always open).
    if (!r.always_open) {
      let cur = a;
      const ws = r.windows.map((w) => [Date.parse(w.from), Date.parse(w.to)]).sort((p, q) => p[0] - q[0]);
      for (const [wa, wb] of ws) { if (wa > cur) body += `<rect class="closed" x="${X(cur)}" y="${y}" width="${X(wa) - X(cur)}" height="${h}"/>`; cur = Math.max(cur, wb); }
      if (cur < b) body += `<rect class="closed" x="${X(cur)}" y="${y}" width="${X(b) - X(cur)}" height="${h}"/>`;
    }
    body += `<line x1="${left}" x2="${W - right}" y1="${y + h}" y2="${y + h}" stroke="#d9dee5"/>`;
    const per = r.minutes_per_vehicle ? `, ${r.minutes_per_vehicle} min/vehicle` : "";
    body += `<text x="${left - 8}" y="${y + 14}" text-anchor="end" class="title">${esc(r.resource)}</text>`;
    body += `<text x="${left - 8}" y="${y + 28}" text-anchor="end" class="axis"><tspan>${r.capacity} servers${esc(per)}</tspan></text>`;
    body += `<text x="${left - 8}" y="${y + 42}" text-anchor="end" class="axis"><tspan>${steps.length} vehicles</tspan></text>`;
    for (const s of steps) {
      const sa = Date.parse(s.start), sb = Math.max(Date.parse(s.end), sa + 60000);
      const x = X(sa), w = Math.max(2, X(sb) - x);
      const yy = y + 4 + s._row * rowH;
      body += `<rect class="st-${s.stage} ${s.done ? "" : "planned"}" x="${x}" y="${yy}" width="${w}" height="${rowH - 3}" rx="2"><title>${esc(s.vin)} ${esc(s.model)} — ${esc(STAGE_LABEL[s.stage])} ${esc(localTime(s.start, tz))} → ${esc(localTime(s.end, tz))}${s.voyage ? " · " + esc(s.voyage) : ""} (${s.done ? "done" : "planned"})</title></rect>`;
      const label = s.vin.slice(-6);
      if (w > label.length * 7 + 6) body += `<text x="${x + 3}" y="${yy + 12}" font-size="10">${esc(label)}</text>`;
    }
    y += Math.max(h, 50) + laneGap;
  }
  const axis = timeAxis(a, b, left, width, y, tz, `local time (${tz}, ${zoneAbbrev(tz, a)})`);
  let grid = `<g class="grid">${axis.ticks.map((t) => `<line x1="${axis.X(t)}" x2="${axis.X(t)}" y1="${top}" y2="${y}"/>`).join("")}</g>`;
  let nowLine = asOf >= a && asOf <= b ? `<line class="now" x1="${X(asOf)}" x2="${X(asOf)}" y1="${top - 6}" y2="${y}"/><text x="${X(asOf) + 4}" y="${top}" font-size="11">now</text>` : "";
  const H = y + 44;
  if (!resources.length) return `<p class="empty">No resources at this location.</p>`;
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Gantt chart of the terminal's resources">${grid}${body}${nowLine}${axis.svg}</svg>`;
}

function occupancy(r, a, b, tz, asOf) {
  const W = 1180, left = 190, right = 20, top = 18, h = 120;
  const width = W - left - right;
  const X = (t) => left + (Math.min(Math.max(t, a), b) - a) / (b - a) * width;
  const evs = [];
  for (const s of r.steps) { evs.push([Date.parse(s.start), 1]); evs.push([Date.parse(s.end), -1]); }
  evs.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  let n = 0, i = 0;
  while (i < evs.length && evs[i][0] <= a) { n += evs[i][1]; i++; }
  const pts = [[a, n]];
  for (; i < evs.length && evs[i][0] <= b; i++) { n += evs[i][1]; pts.push([evs[i][0], n]); }
  pts.push([b, n]);
  const peak = Math.max(...pts.map((p) => p[1]), 1);
  // Scale to the occupancy; the slot count is drawn only when it is within reach.
  const maxN = r.capacity && r.capacity <= peak * 1.5 ? r.capacity : Math.ceil(peak * 1.25);
  const Y = (v) => top + h - v / maxN * h;
  let d = `M${X(a)},${Y(0)}`;
  let prev = pts[0];
  d += ` L${X(prev[0])},${Y(prev[1])}`;
  for (const p of pts.slice(1)) { d += ` L${X(p[0])},${Y(prev[1])} L${X(p[0])},${Y(p[1])}`; prev = p; }
  d += ` L${X(b)},${Y(0)} Z`;
  const yTicks = [0, Math.round(maxN / 2), maxN];
  let s = `<svg viewBox="0 0 ${W} ${top + h + 44}" role="img" aria-label="Yard occupancy">`;
  s += `<text x="${W - right}" y="${top - 2}" text-anchor="end" class="axis"><tspan>peak ${fmtInt(peak)} vehicles in the window · ${fmtInt(r.capacity)} slots${r.capacity > maxN ? " (off the scale)" : ""}</tspan></text>`;
  s += `<g class="axis">${yTicks.map((v) => `<line x1="${left - 4}" x2="${left}" y1="${Y(v)}" y2="${Y(v)}"/><text x="${left - 8}" y="${Y(v) + 4}" text-anchor="end">${fmtInt(v)}</text>`).join("")}<text x="${left - 60}" y="${top + h / 2}" text-anchor="middle" transform="rotate(-90 ${left - 60} ${top + h / 2})">vehicles</text></g>`;
  s += `<path class="occ" d="${d}"/>`;
  if (r.capacity && r.capacity <= maxN) s += `<line class="cap" x1="${left}" x2="${W - right}" y1="${Y(r.capacity)}" y2="${Y(r.capacity)}"/><text x="${W - right - 4}" y="${Y(r.capacity) + 14}" text-anchor="end" font-size="11">${fmtInt(r.capacity)} slots</text>`;
  if (asOf >= a && asOf <= b) s += `<line class="now" x1="${X(asOf)}" x2="${X(asOf)}" y1="${top}" y2="${top + h}"/>`;
  s += timeAxis(a, b, left, width, top + h, tz, `local time (${tz}, ${zoneAbbrev(tz, a)})`).svg;
  return s + "</svg>";
}

// ------------------------------------------------------------ vessels view

async function renderVessels(root) {
  const page = await api("/v1/voyages?limit=12");
  const asOf = Date.parse(state.me.as_of);
  let html = `<h1>Vessels <span class="muted">— load against booked space by deck class, cutoffs</span></h1>`;
  if (!page.items.length) { root.innerHTML = html + `<p class="empty">No voyages in the window.</p>`; return; }
  html += `<div class="legend"><span><i class="sw-load"></i>planned and loaded (RT43)</span><span><i class="sw-booked"></i>booked space (RT43)</span><span><i class="sw-over"></i>over the booking</span></div><div class="cards">`;
  for (const v of page.items) {
    const exportCalls = v.calls.filter((c) => c.export);
    const cut = v.next_cutoff ? Date.parse(v.next_cutoff) : null;
    const soon = cut !== null && cut - asOf < 24 * 3600000;
    const callAt = v.calls.find((c) => c.cutoff === v.next_cutoff);
    html += `<article class="card" aria-label="Voyage ${esc(v.voyage)}"><h3><span>${esc(v.voyage)} <span class="muted">${esc(v.service)} · ${fmtInt(v.capacity_ceu)} CEU</span></span>` +
      (v.departed ? `<span class="pill departed">departed</span>` : cut !== null ? `<span class="count ${soon ? "soon" : ""}" title="cutoff at ${esc(callAt ? callAt.port : "")}">cutoff in ${esc(duration((cut - asOf) / 60000))}</span>` : `<span class="pill">cutoffs passed</span>`) + `</h3>`;
    html += `<table class="calls"><thead><tr><th>Call</th><th>Cutoff (local)</th><th>Berth (local)</th></tr></thead><tbody>${v.calls.map((c) => `<tr><td>${esc(c.port)}</td><td>${c.cutoff ? esc(localTime(c.cutoff, c.tz)) : "—"}</td><td>${esc(localTime(c.berth, c.tz))}</td></tr>`).join("")}</tbody></table>`;
    html += deckBars(v.decks);
    html += `<button type="button" class="linkish" data-voyage="${esc(v.voyage)}">Stow order of ${fmtInt(v.n_vehicles)} vehicle${v.n_vehicles === 1 ? "" : "s"}</button></article>`;
  }
  html += `</div><div id="stow"></div>`;
  root.innerHTML = html;
  for (const b of root.querySelectorAll("button[data-voyage]")) b.onclick = () => { state.voyage = b.dataset.voyage; renderStow(); };
  if (state.voyage) renderStow();
}

function deckBars(decks) {
  const W = 440, left = 150, right = 100, row = 26;
  const max = Math.max(1, ...decks.map((d) => Math.max(d.booked_rt43, d.planned_rt43)));
  const width = W - left - right;
  let s = `<svg viewBox="0 0 ${W} ${decks.length * row + 30}" role="img" aria-label="Load against booked space by deck class">`;
  decks.forEach((d, i) => {
    const y = 4 + i * row;
    const wl = width * d.planned_rt43 / max, wb = width * d.booked_rt43 / max;
    s += `<text x="${left - 6}" y="${y + 15}" text-anchor="end">${esc(d.deck_class)} <tspan class="muted" font-size="10">≤${(d.clearance_mm / 1000).toFixed(1)} m</tspan></text>`;
    s += `<rect class="load ${d.planned_rt43 > d.booked_rt43 + 1e-9 ? "over" : ""}" x="${left}" y="${y + 4}" width="${wl}" height="${row - 10}"><title>${d.deck_class}: ${fmt1(d.planned_rt43)} RT43 planned, ${fmt1(d.booked_rt43)} booked, ${d.n_vehicles} vehicles</title></rect>`;
    if (wb > 0) s += `<rect class="booked" x="${left}" y="${y + 2}" width="${wb}" height="${row - 6}"/>`;
    s += `<text x="${left + width + 6}" y="${y + 15}" font-size="11">${fmt1(d.planned_rt43)} / ${fmt1(d.booked_rt43)}</text>`;
  });
  const y = decks.length * row + 6;
  s += `<g class="axis"><line x1="${left}" x2="${left + width}" y1="${y}" y2="${y}"/><text x="${left}" y="${y + 14}">0</text><text x="${left + width}" y="${y + 14}" text-anchor="end">${fmtInt(max)}</text><text x="${left + width / 2}" y="${y + 14}" text-anchor="middle">RT43 (planned / booked)</text></g>`;
  return s + "</svg>";
}

async function renderStow() {
  const v = await api(`/v1/voyages/${encodeURIComponent(state.voyage)}`);
  const rows = v.vehicles.map((s) => `<tr><td class="num">${s.stow_rank}</td><td><button type="button" class="linkish" data-vin="${esc(s.vin)}">${esc(s.vin)}</button></td><td>${esc(s.model)}</td><td>${esc(s.loading_port)}</td><td>${esc(s.discharge_port)}</td><td>${esc(s.deck_class || "—")}</td><td>${esc(localTime(s.loading_start, tzOf(s.loading_port)))}</td><td>${s.loaded ? "loaded" : "planned"}</td></tr>`).join("");
  $("#stow").innerHTML = `<div class="panel wide"><h2>Stow order of ${esc(v.voyage)} (first loaded = deepest; later discharge ports first)</h2><div class="scroll"><table><thead><tr><th class="num">#</th><th>VIN</th><th>Model</th><th>Loads at</th><th>Discharges at</th><th>Deck class</th><th>Loading starts (local)</th><th></th></tr></thead><tbody>${rows || `<tr><td colspan="8" class="empty">No vehicles of yours on this voyage.</td></tr>`}</tbody></table></div></div>`;
  wireVinLinks($("#stow"));
}

function wireVinLinks(el) {
  for (const b of el.querySelectorAll("button[data-vin]")) b.onclick = () => { state.vin = b.dataset.vin; show("vehicle"); };
}

// ------------------------------------------------------------ vehicle view

async function renderVehicle(root) {
  if (!state.vin) {
    const first = await api("/v1/vehicles?at_risk=true&limit=1");
    const any = first.items.length ? first : await api("/v1/vehicles?stage=yard&limit=1");
    const pick = any.items.length ? any : await api("/v1/vehicles?limit=1");
    if (pick.items.length) state.vin = pick.items[0].vin;
  }
  let html = `<h1>Vehicle <span class="muted">— timeline, planned against actual, ETA</span></h1>
  <form class="toolbar" id="vin-form" role="search"><label for="vin">VIN</label><input id="vin" list="vins" value="${esc(state.vin)}" size="20" maxlength="17" spellcheck="false" autocomplete="off"><datalist id="vins"></datalist><button type="submit">Show</button></form>`;
  if (!state.vin) { root.innerHTML = html + `<p class="empty">No vehicles yet.</p>`; wireVinForm(); return; }
  let plan, eta, actual;
  try {
    [plan, eta] = await Promise.all([api(`/v1/vehicles/${state.vin}/plan`), api(`/v1/vehicles/${state.vin}/eta`)]);
    actual = await api(`/v1/vehicles/${state.vin}`).catch(() => null);
  } catch (e) {
    root.innerHTML = html + `<p class="error">${esc(e.message)}</p>`; wireVinForm(); return;
  }
  const last = plan.steps[plan.steps.length - 1];
  const dealerTz = last ? last.tz : "UTC";
  html += `<div class="kpis">
    <div class="kpi"><div class="v">${esc(plan.model)}</div><div class="l">model · dealer ${esc(plan.dealer)}</div></div>
    <div class="kpi"><div class="v">${esc(plan.voyage || "—")}</div><div class="l">voyage${plan.rolls ? ` · rolled ${plan.rolls}×` : ""}</div></div>
    <div class="kpi"><div class="v">${esc(localTime(plan.promised_by, dealerTz))}</div><div class="l">promised at the dealer</div></div>
    <div class="kpi ${eta.delivered && eta.delivered.p50 > plan.promised_by ? "bad" : ""}"><div class="v">${eta.delivered ? esc(localTime(eta.delivered.p50, dealerTz)) : "—"}</div><div class="l">ETA P50 at the dealer${eta.delivered ? ` (P10 ${esc(localTime(eta.delivered.p10, dealerTz))}, P90 ${esc(localTime(eta.delivered.p90, dealerTz))})` : eta.computed ? "" : " (not computed yet)"}</div></div>
  </div>`;
  if (plan.alerts.length) html += `<div class="panel wide">${plan.alerts.map((a) => `<div class="sev-${a.severity}">${esc(a.kind.replace(/_/g, " "))}: ${esc(a.detail)}</div>`).join("")}</div>`;
  html += `<div class="panel wide"><h2>Timeline</h2>${timeline(plan, eta, actual)}<div class="legend"><span><i class="st-yard"></i>stage (solid: done, faded: planned)</span><span><i class="sw-band"></i>ETA P10–P90 of the stage's start, line at P50</span><span><i class="sw-actual"></i>actual milestone (event store)</span><span><i class="sw-promise"></i>promised date</span></div></div>`;
  const etaOf = new Map((eta.stages || []).map((s) => [s.stage, s]));
  html += `<div class="panel wide"><h2>Stages, local times</h2><table><thead><tr><th>Stage</th><th>Where</th><th>Resource</th><th>Start</th><th>End</th><th>ETA of start P10 / P50 / P90</th><th></th></tr></thead><tbody>` +
    plan.steps.map((s) => { const e = etaOf.get(s.stage); return `<tr><td><i class="st-${s.stage} sw"></i>${STAGE_LABEL[s.stage]}</td><td>${esc(locName(s.location))}</td><td>${esc(s.resource)}</td><td>${esc(localTime(s.start, s.tz))}</td><td>${esc(localTime(s.end, s.tz))}</td><td>${e ? `${esc(localTime(e.p10, e.tz))} / ${esc(localTime(e.p50, e.tz))} / ${esc(localTime(e.p90, e.tz))}` : "—"}</td><td>${s.done ? "done" : "planned"}</td></tr>`; }).join("") + `</tbody></table></div>`;
  root.innerHTML = html;
  wireVinForm();
}

function wireVinForm() {
  const f = $("#vin-form");
  f.onsubmit = (e) => { e.preventDefault(); state.vin = $("#vin").value.trim().toUpperCase(); show("vehicle"); };
  $("#vin").oninput = async (e) => {
    const v = e.target.value.trim().toUpperCase();
    if (v.length < 3) return;
    const r = await api(`/v1/vehicles?vin=${encodeURIComponent(v)}&limit=10`).catch(() => null);
    if (r) $("#vins").innerHTML = r.items.map((i) => `<option value="${esc(i.vin)}">${esc(i.model)} · ${esc(STAGE_LABEL[i.stage])}</option>`).join("");
  };
}

function timeline(plan, eta, actual) {
  const W = 1180, left = 120, right = 30, rowH = 28, top = 16;
  const times = [];
  for (const s of plan.steps) { times.push(Date.parse(s.start), Date.parse(s.end)); }
  for (const s of eta.stages || []) times.push(Date.parse(s.p10), Date.parse(s.p90));
  if (eta.delivered) times.push(Date.parse(eta.delivered.p90));
  times.push(Date.parse(plan.promised_by), Date.parse(plan.as_of));
  const a = Math.min(...times) - 6 * 3600000, b = Math.max(...times) + 12 * 3600000;
  const width = W - left - right;
  const X = (t) => left + (t - a) / (b - a) * width;
  const rows = STAGES;
  const H = top + rows.length * rowH + 50;
  let s = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Timeline of ${esc(plan.vin)}">`;
  const axis = timeAxis(a, b, left, width, top + rows.length * rowH, "UTC", "time (UTC; local times in the table below)");
  s += `<g class="grid">${axis.ticks.map((t) => `<line x1="${X(t)}" x2="${X(t)}" y1="${top}" y2="${top + rows.length * rowH}"/>`).join("")}</g>`;
  const etaOf = new Map((eta.stages || []).map((e) => [e.stage, e]));
  rows.forEach((st, i) => {
    const y = top + i * rowH;
    s += `<text x="${left - 8}" y="${y + 18}" text-anchor="end">${STAGE_LABEL[st]}</text>`;
    const e = etaOf.get(st);
    if (e) {
      s += `<rect class="band" x="${X(Date.parse(e.p10))}" y="${y + 2}" width="${Math.max(2, X(Date.parse(e.p90)) - X(Date.parse(e.p10)))}" height="${rowH - 4}"><title>ETA of ${STAGE_LABEL[st]}: P10 ${esc(localTime(e.p10, e.tz))}, P50 ${esc(localTime(e.p50, e.tz))}, P90 ${esc(localTime(e.p90, e.tz))}</title></rect>`;
      s += `<line class="p50" x1="${X(Date.parse(e.p50))}" x2="${X(Date.parse(e.p50))}" y1="${y + 2}" y2="${y + rowH - 2}"/>`;
    }
    for (const step of plan.steps.filter((x) => x.stage === st)) {
      const sa = Date.parse(step.start), sb = Math.max(Date.parse(step.end), sa + 60000);
      s += `<rect class="st-${st} ${step.done ? "" : "planned"}" x="${X(sa)}" y="${y + 8}" width="${Math.max(3, X(sb) - X(sa))}" height="${rowH - 16}" rx="2"><title>${STAGE_LABEL[st]} at ${esc(step.location)}: ${esc(localTime(step.start, step.tz))} → ${esc(localTime(step.end, step.tz))} (${step.done ? "done" : "planned"})</title></rect>`;
    }
  });
  if (actual && actual.history) {
    for (const h of actual.history) {
      if (!h.stage || h.retracted) continue;
      const i = rows.indexOf(h.stage);
      if (i < 0) continue;
      const x = X(Date.parse(h.at)), y = top + i * rowH + rowH / 2;
      s += `<path class="actual" d="M${x},${y - 6} L${x + 5},${y} L${x},${y + 6} L${x - 5},${y} Z"><title>${esc(h.milestone)} at ${esc(h.location)}: ${esc(localTime(h.at, tzOf(h.location)))}</title></path>`;
    }
  }
  const pr = X(Date.parse(plan.promised_by));
  s += `<line class="promise" x1="${pr}" x2="${pr}" y1="${top - 10}" y2="${top + rows.length * rowH}"/><text x="${pr - 4}" y="${top - 4}" text-anchor="end" font-size="11">promised</text>`;
  const nx = X(Date.parse(plan.as_of));
  s += `<line class="now" x1="${nx}" x2="${nx}" y1="${top - 10}" y2="${top + rows.length * rowH}"/><text x="${nx + 4}" y="${top - 4}" font-size="11">now</text>`;
  s += axis.svg;
  return s + "</svg>";
}

// ------------------------------------------------------------ insight view

async function renderInsight(root) {
  const r = await fetch("/v1/insight", { headers: { Authorization: `Bearer ${state.token}` } }).then(async (x) => {
    if (x.status === 503) return null;
    if (x.status === 401) { logout("The token was refused (revoked or wrong). Sign in again."); throw new Error("unauthorized"); }
    const b = await x.json();
    if (!x.ok) throw new Error(b.detail || String(x.status));
    return b;
  });
  if (!r) {
    root.innerHTML = `<h1>Insight</h1><p class="empty">The report is being computed from the event log; it appears here in a few seconds.</p>`;
    setTimeout(() => { if (state.view === "insight") redraw(); }, 4000);
    return;
  }
  const rep = r.report;
  let html = `<h1>Insight <span class="muted">— where time is lost, from ${fmtInt(rep.n_events)} events of ${fmtInt(rep.n_vehicles)} vehicles</span></h1>`;
  const dwell = rep.dwell_hours_by_stage.slice().sort((x, y) => STAGES.indexOf(x.stage) - STAGES.indexOf(y.stage));
  html += `<div class="grid two"><div class="panel"><h2>Dwell by stage (hours, from the end of the previous stage)</h2>${dwellBars(dwell)}<div class="legend"><span><i class="sw-bar"></i>median (P50)</span><span><i class="sw-bar2"></i>P90</span></div></div>`;
  html += `<div class="panel"><h2>Bottlenecks: waiting caused by capacity</h2><div class="scroll"><table><thead><tr><th class="num">#</th><th>Resource</th><th class="num">Waiting (vehicle-hours)</th><th class="num">P90 wait (h)</th><th>Peak hours (local)</th></tr></thead><tbody>` +
    (rep.bottlenecks.slice(0, 12).map((b) => `<tr><td class="num">${b.rank}</td><td>${esc(b.resource)}</td><td class="num">${fmt1(b.waiting_vehicle_hours)}</td><td class="num">${fmt1(b.wait_hours.p90 ?? 0)}</td><td>${esc((b.peak_hours || []).slice(0, 2).join(", "))} <span class="muted">${esc(b.time_zone)}</span></td></tr>`).join("") ||
      `<tr><td colspan="5" class="empty">No capacity waits recorded yet.</td></tr>`) + `</tbody></table></div></div>`;
  const rows = rep.dwell_hours.slice().sort((x, y) => y.vehicle_hours - x.vehicle_hours).slice(0, 15);
  html += `<div class="panel wide"><h2>Dwell by stage and location, most vehicle-hours first</h2><table><thead><tr><th>Stage</th><th>Location</th><th class="num">Vehicles</th><th class="num">P50 (h)</th><th class="num">P90 (h)</th><th class="num">Vehicle-hours</th></tr></thead><tbody>` +
    rows.map((d) => `<tr><td>${esc(STAGE_LABEL[d.stage] || d.stage)}</td><td>${esc(locName(d.location))}</td><td class="num">${fmtInt(d.n)}</td><td class="num">${fmt1(d.p50)}</td><td class="num">${fmt1(d.p90)}</td><td class="num">${fmtInt(Math.round(d.vehicle_hours))}</td></tr>`).join("") + `</tbody></table>
    <p class="muted">Report as of ${esc(localTime(rep.as_of, "UTC"))}; computed ${r.age_seconds} s ago.</p></div></div>`;
  root.innerHTML = html;
}

function dwellBars(rows) {
  const W = 640, left = 110, right = 90, row = 28;
  const max = Math.max(1, ...rows.map((d) => d.p90));
  const width = W - left - right;
  const H = rows.length * row + 40;
  let s = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Dwell hours by stage">`;
  rows.forEach((d, i) => {
    const y = 4 + i * row;
    s += `<text x="${left - 8}" y="${y + 16}" text-anchor="end">${esc(STAGE_LABEL[d.stage] || d.stage)}</text>`;
    s += `<rect class="bar2" x="${left}" y="${y + 4}" width="${width * d.p90 / max}" height="${row - 8}"><title>P90 ${fmt1(d.p90)} h</title></rect>`;
    s += `<rect class="bar" x="${left}" y="${y + 7}" width="${width * d.p50 / max}" height="${row - 14}"><title>P50 ${fmt1(d.p50)} h (n = ${d.n})</title></rect>`;
    s += `<text x="${left + width * d.p90 / max + 6}" y="${y + 16}" font-size="11">${fmt1(d.p50)} / ${fmt1(d.p90)}</text>`;
  });
  const y = rows.length * row + 8;
  const { ticks } = { ticks: [0, max / 2, max] };
  s += `<g class="axis"><line x1="${left}" x2="${left + width}" y1="${y}" y2="${y}"/>${ticks.map((t) => `<text x="${left + width * t / max}" y="${y + 14}" text-anchor="middle">${fmtInt(Math.round(t))}</text>`).join("")}<text x="${left + width / 2}" y="${y + 30}" text-anchor="middle">hours</text></g>`;
  return s + "</svg>";
}

// ------------------------------------------------------------ alerts view

async function renderAlerts(root) {
  const q = state.alertKind ? `&kind=${state.alertKind}` : "";
  const page = await api(`/v1/alerts?limit=200${q}`);
  const kinds = ["promise_late", "promise_at_risk", "cutoff_at_risk", "unplaced", "hold"];
  let html = `<h1>Alerts <span class="muted">— vehicles at risk of missing a cutoff or their promised date</span></h1>
  <div class="toolbar" role="group" aria-label="Filter by kind"><button type="button" data-kind="" aria-pressed="${!state.alertKind}">all (${fmtInt(Object.values(page.counts).reduce((a, b) => a + b, 0))})</button>` +
    kinds.map((k) => `<button type="button" data-kind="${k}" aria-pressed="${state.alertKind === k}">${k.replace(/_/g, " ")} (${fmtInt(page.counts[k] || 0)})</button>`).join("") + `</div>`;
  html += `<div class="panel wide"><div class="scroll"><table><thead><tr><th>Severity</th><th>Kind</th><th>VIN</th><th>Voyage</th><th>Due</th><th>Expected</th><th class="num">Late by</th><th>Detail</th></tr></thead><tbody>` +
    (page.items.map((a) => `<tr><td class="sev-${a.severity}">${a.severity}</td><td>${esc(a.kind.replace(/_/g, " "))}</td><td><button type="button" class="linkish" data-vin="${esc(a.vin)}">${esc(a.vin)}</button></td><td>${esc(a.voyage || "—")}</td><td>${a.due ? esc(localTime(a.due, a.tz)) : "—"}</td><td>${a.expected ? esc(localTime(a.expected, a.tz)) : "—"}</td><td class="num">${a.late_minutes != null ? esc(duration(a.late_minutes)) : "—"}</td><td>${esc(a.detail)}</td></tr>`).join("") ||
      `<tr><td colspan="8" class="empty">No alerts: every vehicle is expected on time.</td></tr>`) + `</tbody></table></div>` +
    (page.n_matching > page.items.length ? `<p class="muted">Showing ${page.items.length} of ${fmtInt(page.n_matching)}.</p>` : "") + `</div>`;
  root.innerHTML = html;
  for (const b of root.querySelectorAll("button[data-kind]")) b.onclick = () => { state.alertKind = b.dataset.kind; redraw(); };
  wireVinLinks(root);
}

const VIEW_RENDER = {
  network: renderNetwork, terminal: renderTerminal, vessels: renderVessels,
  vehicle: renderVehicle, insight: renderInsight, alerts: renderAlerts,
};

// ------------------------------------------------------------ start

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (e) => { e.preventDefault(); login($("#token").value.trim()); });
  const tabs = [...document.querySelectorAll("#tabs button")];
  tabs.forEach((b, i) => {
    b.addEventListener("click", () => show(b.dataset.view));
    b.addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        const j = (i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length;
        tabs[j].focus(); show(tabs[j].dataset.view);
      }
    });
  });
  document.addEventListener("keydown", (e) => {
    const typing = e.target.matches("input, select, textarea");
    if (!typing && !e.altKey && !e.ctrlKey && !e.metaKey && /^[1-6]$/.test(e.key) && state.me) show(VIEWS[Number(e.key) - 1]);
  });
  if (state.token) login(state.token); else logout("");
});
