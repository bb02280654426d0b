// The trading-bot dashboard: plain JavaScript, no library, no build step.
//
// Rules: every string from the API goes into the page as text (textContent, createElement; never innerHTML);
// the token is sent once to POST /api/v1/login and never kept (the session is an HttpOnly cookie); every control
// asks for a confirmation first. Live data: the Server-Sent Events of GET /api/v1/stream (one snapshot a second);
// when the stream cannot be had, the page polls the JSON API every POLL_MS and tries the stream again later.
"use strict";

(function () {
  const API = "/api/v1/";
  const POLL_MS = 2000;
  const STREAM_RETRY_MS = 30000;
  const MAX_EQUITY_POINTS = 3000;
  const STATE_ACTIONS = new Set(["halt", "resume", "reduce-only"]);

  let source = null;          // the EventSource while streaming
  let pollTimer = null;
  let retryTimer = null;
  let streamFailures = 0;
  let equity = [];            // [{ts_ms, equity(Number), text}] oldest first
  let last = null;            // the latest snapshot
  let readOnly = false;

  const $ = (id) => document.getElementById(id);

  // -- DOM helpers: text only ------------------------------------------------------------------------------
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === undefined || value === null) continue;
        if (key === "className") node.className = value;
        else if (key === "dataset") Object.assign(node.dataset, value);
        else if (key === "onclick") node.addEventListener("click", value);
        else node.setAttribute(key, String(value));
      }
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // An exact decimal string shown with at most `places` decimals (the full value in the title).
  function num(text, places) {
    if (text === null || text === undefined || text === "") return "–";
    const s = String(text);
    const dot = s.indexOf(".");
    if (dot < 0 || s.length - dot - 1 <= places) return s;
    const n = Number(s);
    return Number.isFinite(n) ? n.toFixed(places) : s;
  }

  function cell(text, props) {
    return el("td", Object.assign({ title: text === null || text === undefined ? undefined : String(text) }, props),
      text === null || text === undefined ? "–" : text);
  }

  function money(text, places) {
    const n = Number(text);
    const cls = text === null || text === undefined || !Number.isFinite(n) || n === 0 ? undefined : n > 0 ? "pos" : "neg";
    return el("td", { className: cls, title: text === null || text === undefined ? undefined : String(text) },
      num(text, places));
  }

  function time(ms) {
    if (typeof ms !== "number") return "–";
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  }

  function fillRows(tbody, rows, columns) {
    if (rows.length === 0) {
      tbody.replaceChildren(el("tr", { className: "empty" }, el("td", { colspan: columns }, "none")));
    } else {
      tbody.replaceChildren(...rows);
    }
  }

  function filtered(items) {
    const want = $("filter").value;
    return want ? items.filter((item) => item.instrument === want) : items;
  }

  // -- rendering -------------------------------------------------------------------------------------------
  function renderStatus(status) {
    readOnly = !!status.read_only;
    $("bot-id").textContent = status.bot_id || "";
    const state = $("state");
    state.textContent = (status.trading_state || "?").toUpperCase();
    state.dataset.state = status.trading_state || "";
    $("state-reason").textContent = status.trading_state_reason || "";
    $("controls").hidden = readOnly;
  }

  // The run's totals: the summary's figures; with several instruments the summary has them per instrument
  // (orders) or not at all (realized, unrealized, fees), so they are added up here (quote currencies at par,
  // as the bot's own book values them).
  function total(rows, key) {
    let sum = 0, any = false;
    for (const row of rows) {
      const n = Number(row && row[key]);
      if (row && row[key] !== null && row[key] !== undefined && Number.isFinite(n)) { sum += n; any = true; }
    }
    return any ? String(sum) : null;
  }

  function renderSummary(status, positions, orders) {
    const s = status.summary || {};
    const perInstrument = Object.values(s.instruments || {});
    const counts = s.orders || {};
    const count = (key) => counts[key] !== undefined ? counts[key]
      : perInstrument.reduce((sum, i) => sum + ((i.orders || {})[key] || 0), 0);
    const realized = s.realized_pnl !== undefined ? s.realized_pnl : total(positions, "realized_pnl");
    const unrealized = s.unrealized_pnl !== undefined ? s.unrealized_pnl : total(positions, "unrealized_pnl");
    const fees = s.fees !== undefined ? s.fees : total(positions, "fees");
    const cards = [
      ["equity", num(s.equity, 2)], ["net PnL", num(s.net_pnl, 4), s.net_pnl],
      ["realized", num(realized, 4), realized], ["unrealized", num(unrealized, 4), unrealized],
      ["fees", num(fees, 4)], ["fills", s.fills], ["open orders", orders.length],
      ["orders submitted", count("submitted")], ["denied", count("denied")], ["rejected", count("rejected")],
      ["market events", s.market_events],
    ];
    $("summary").replaceChildren(...cards.map(([label, value, sign]) => {
      const n = Number(sign);
      const cls = sign === undefined || sign === null || !Number.isFinite(n) || n === 0 ? "value"
        : n > 0 ? "value pos" : "value neg";
      return el("div", { className: "card", dataset: { card: label } },
        el("div", { className: "label" }, label),
        el("div", { className: cls }, value === undefined || value === null ? "–" : value));
    }));
  }

  function syncFilter(instruments) {
    const select = $("filter");
    const have = Array.from(select.options).map((o) => o.value).filter((v) => v);
    const want = instruments.map((i) => i.instrument);
    if (have.join("\n") === want.join("\n")) return;
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, "all instruments"), ...want.map((i) => el("option", { value: i }, i)));
    select.value = want.includes(chosen) ? chosen : "";
  }

  function renderPositions(instruments, positions, orders) {
    syncFilter(instruments);
    const byInstrument = new Map(positions.map((p) => [p.instrument, p]));
    const openCount = new Map();
    for (const o of orders) openCount.set(o.instrument, (openCount.get(o.instrument) || 0) + 1);
    const rows = filtered(instruments).map((i) => {
      const p = byInstrument.get(i.instrument) || {};
      const actions = el("td", { className: "actions" });
      if (!readOnly) {
        actions.append(
          el("button", { type: "button", className: "small", dataset: { action: "cancel-all", instrument: i.instrument },
            onclick: () => confirmControl("cancel-all", i.instrument) }, "Cancel orders"),
          el("button", { type: "button", className: "small danger", dataset: { action: "flatten", instrument: i.instrument },
            onclick: () => confirmControl("flatten", i.instrument) }, "Flatten"));
      }
      return el("tr", { dataset: { instrument: i.instrument } },
        cell(i.instrument), cell(i.venue_state), cell(num(i.bid, 8)), cell(num(i.ask, 8)),
        cell(i.data_age_s === null ? null : i.data_age_s.toFixed(1)), cell(num(p.quantity, 8)),
        cell(num(p.average_entry, 2)), cell(num(p.mark, 2)), money(p.realized_pnl, 4), money(p.unrealized_pnl, 4),
        money(p.net_pnl, 4), cell(num(p.fees, 4)), cell(p.fills), cell(openCount.get(i.instrument) || 0), actions);
    });
    fillRows($("positions").tBodies[0], rows, 15);
  }

  function renderOrders(orders) {
    const shown = filtered(orders);
    $("orders-count").textContent = `(${orders.length})`;
    const rows = shown.slice().reverse().map((o) => el("tr", { dataset: { coid: o.client_order_id, instrument: o.instrument } },
      cell(o.instrument), cell(o.side, { className: o.side }), cell(o.type), cell(num(o.quantity, 8)),
      cell(num(o.price, 8)), cell(num(o.filled_quantity, 8)), cell(o.status), cell(o.tag), cell(o.client_order_id)));
    fillRows($("orders").tBodies[0], rows, 9);
  }

  function renderFills(fills) {
    const shown = filtered(fills);
    $("fills-count").textContent = `(latest ${fills.length})`;
    const rows = shown.slice().reverse().map((f) => el("tr", { dataset: { trade: f.trade_id, instrument: f.instrument } },
      cell(time(f.ts_ms)), cell(f.instrument), cell(f.side, { className: f.side }), cell(num(f.quantity, 8)),
      cell(num(f.price, 8)), cell(`${num(f.fee, 6)} ${f.fee_currency || ""}`), cell(f.liquidity)));
    fillRows($("fills").tBodies[0], rows, 7);
  }

  function kv(target, pairs) {
    const nodes = [];
    for (const [key, value] of pairs) nodes.push(el("dt", null, key), el("dd", null, value));
    if (nodes.length === 0) nodes.push(el("dt", null, "none"), el("dd", null, ""));
    target.replaceChildren(...nodes);
  }

  function renderRisk(risk) {
    kv($("risk-state"), [["trading state", (risk.trading_state || "").toUpperCase()],
      ["reason", risk.trading_state_reason || "–"]]);
    kv($("risk-venues"), Object.entries(risk.venues || {}).map(([name, v]) =>
      [name, v.failure ? `${v.state}: ${v.failure}` : v.state]));
    kv($("denials-by-rule"), Object.entries(risk.denials_by_rule || {}));
    const rows = (risk.recent_denials || []).slice().reverse().map((d) => el("tr", null,
      cell(time(d.ts_ms)), cell(d.symbol), cell(d.side, { className: d.side }), cell(d.rule), cell(d.reason)));
    fillRows($("denials").tBodies[0], rows, 5);
  }

  function addEquity(points) {
    for (const p of points) {
      if (!p || typeof p.ts_ms !== "number") continue;
      const value = Number(p.equity);
      if (!Number.isFinite(value)) continue;
      const point = { ts_ms: p.ts_ms, equity: value, text: String(p.equity) };
      if (equity.length && equity[equity.length - 1].ts_ms >= p.ts_ms) {
        if (equity[equity.length - 1].ts_ms === p.ts_ms) equity[equity.length - 1] = point;
        continue;
      }
      equity.push(point);
    }
    if (equity.length > MAX_EQUITY_POINTS) equity = equity.slice(-MAX_EQUITY_POINTS);
  }

  // A small hand-written SVG line chart of `equity` (time on x, equity on y, min/max and the last value labelled).
  function renderEquity() {
    const chart = $("equity-chart");
    const w = Math.max(200, Math.round(chart.clientWidth || 800));
    const h = 200, pad = { l: 70, r: 10, t: 10, b: 20 };
    chart.setAttribute("viewBox", `0 0 ${w} ${h}`);
    const nodes = [];
    if (equity.length === 0) {
      nodes.push(svg("text", { x: w / 2, y: h / 2, "text-anchor": "middle" }, "no equity yet"));
      chart.replaceChildren(...nodes);
      $("equity-last").textContent = "";
      return;
    }
    const t0 = equity[0].ts_ms, t1 = Math.max(equity[equity.length - 1].ts_ms, t0 + 1);
    let lo = Math.min(...equity.map((p) => p.equity)), hi = Math.max(...equity.map((p) => p.equity));
    if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
    const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * (w - pad.l - pad.r);
    const y = (v) => pad.t + (1 - (v - lo) / (hi - lo)) * (h - pad.t - pad.b);
    const first = equity[0].equity;
    nodes.push(svg("line", { class: "base", x1: pad.l, x2: w - pad.r, y1: y(first), y2: y(first) }));
    const points = equity.map((p) => `${x(p.ts_ms).toFixed(1)},${y(p.equity).toFixed(1)}`).join(" ");
    nodes.push(svg(equity.length === 1 ? "circle" : "polyline",
      equity.length === 1 ? { class: "line", cx: x(t0), cy: y(first), r: 2 } : { class: "line", points }));
    nodes.push(svg("text", { x: 4, y: pad.t + 10 }, hi.toFixed(2)));
    nodes.push(svg("text", { x: 4, y: h - pad.b }, lo.toFixed(2)));
    nodes.push(svg("text", { x: pad.l, y: h - 4 }, time(t0)));
    nodes.push(svg("text", { x: w - pad.r, y: h - 4, "text-anchor": "end" }, time(t1)));
    chart.replaceChildren(...nodes);
    $("equity-last").textContent = `${num(equity[equity.length - 1].text, 2)} (${equity.length} points)`;
  }

  function render(snap) {
    last = snap;
    renderStatus(snap.status);
    renderSummary(snap.status, snap.positions, snap.orders);
    renderPositions(snap.instruments, snap.positions, snap.orders);
    renderOrders(snap.orders);
    renderFills(snap.fills);
    renderRisk(snap.risk);
    if (snap.equity_now) addEquity([snap.equity_now]);
    renderEquity();
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  }

  function setMode(mode, text) {
    const conn = $("conn");
    conn.dataset.mode = mode;
    conn.textContent = text;
  }

  // -- API -------------------------------------------------------------------------------------------------
  class AuthError extends Error {}

  async function get(name) {
    const answer = await fetch(API + name, { credentials: "same-origin", cache: "no-store" });
    if (answer.status === 401 || answer.status === 403) throw new AuthError(String(answer.status));
    if (!answer.ok) throw new Error(`${name}: HTTP ${answer.status}`);
    return answer.json();
  }

  // The run's figures (/status) cost the bot time proportional to its fills: polled every STATUS_EVERY-th
  // time only; the trading state always comes fresh from /risk.
  const STATUS_EVERY = 5;
  let polls = 0;
  let lastStatus = null;

  async function poll() {
    const fresh = lastStatus === null || polls % STATUS_EVERY === 0;
    polls += 1;
    const names = ["instruments", "positions", "orders", "fills?limit=50", "risk"];
    const [status, instruments, positions, orders, fills, risk] =
      await Promise.all([fresh ? get("status") : Promise.resolve(lastStatus), ...names.map(get)]);
    lastStatus = status;
    status.trading_state = risk.trading_state;
    status.trading_state_reason = risk.trading_state_reason;
    // the equity now, at the bot's clock (the latest market event's time), as the stream's equity_now
    const times = instruments.map((i) => i.last_ts_ms).filter((t) => typeof t === "number");
    const summary = status.summary || {};
    const now = summary.equity && times.length ? { ts_ms: Math.max(...times), equity: summary.equity } : null;
    render({ status, instruments, positions, orders, fills, risk, equity_now: now });
  }

  async function loadEquity() {
    try {
      const curve = await get("equity");
      addEquity(curve.points || []);
    } catch (err) {
      if (err instanceof AuthError) throw err;
    }
  }

  function stopLive() {
    if (source) { source.close(); source = null; }
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
  }

  function startPolling() {
    if (pollTimer) return;
    setMode("polling", "polling");
    const tick = () => poll().catch(onError);
    tick();
    pollTimer = setInterval(tick, POLL_MS);
    if (window.EventSource && !retryTimer) {
      retryTimer = setTimeout(() => { retryTimer = null; startStream(); }, STREAM_RETRY_MS);
    }
  }

  function startStream() {
    if (!window.EventSource) { startPolling(); return; }
    if (source) source.close();
    source = new EventSource(API + "stream");
    source.addEventListener("snapshot", (event) => {
      streamFailures = 0;
      if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
      setMode("live", "live");
      try { render(JSON.parse(event.data)); } catch (err) { console.error(err); }
    });
    source.addEventListener("error", () => {
      streamFailures += 1;
      // a closed stream (401/403, server gone) or one that keeps failing: find out why, poll meanwhile
      if (source && (source.readyState === EventSource.CLOSED || streamFailures >= 3)) {
        source.close();
        source = null;
        get("status").then(() => startPolling(), onError);
      } else {
        setMode("offline", "reconnecting");
      }
    });
  }

  function onError(err) {
    if (err instanceof AuthError) { showLogin("session ended: log in again"); return; }
    setMode("offline", "offline");
    console.error(err);
  }

  // -- controls --------------------------------------------------------------------------------------------
  const WORDS = {
    "halt": ["Halt trading", () => "No new order is sent until you resume. Open orders stay on the venue."],
    "resume": ["Resume trading", () => "The strategies may place orders again."],
    "reduce-only": ["Reduce only", () => "Only orders that reduce a position are sent."],
    "cancel-all": ["Cancel orders", (i) => i ? `Cancel every open order of ${i}.` : "Cancel every open order of every instrument."],
    "flatten": ["Flatten", (i) => i ? `Close the position of ${i} at market.` : "Close every instrument's position at market."],
  };
  let pending = null;

  function confirmControl(action, instrument) {
    const [title, text] = WORDS[action];
    pending = { action, instrument: instrument || null };
    const scope = instrument ? ` — ${instrument}` : STATE_ACTIONS.has(action) ? "" : " — every instrument";
    $("confirm-title").textContent = title + scope;
    $("confirm-text").textContent = text(instrument);
    $("confirm-reason").value = "";
    $("confirm").dataset.action = action;
    $("confirm").showModal();
  }

  async function sendControl(command, reason) {
    const body = { reason: reason || "from the dashboard" };
    if (command.instrument) body.instrument = command.instrument;
    const result = $("control-result");
    result.textContent = `${command.action}: sending…`;
    try {
      const answer = await fetch(API + command.action, {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (answer.status === 401 || answer.status === 403) {
        result.textContent = `${command.action}: refused (HTTP ${answer.status})`;
        return;
      }
      const outcome = await answer.json();
      result.textContent = `${command.action}${command.instrument ? " " + command.instrument : ""}: ` +
        `${outcome.ok ? "done" : "failed"} — ${outcome.detail || ""}`;
      result.dataset.ok = String(!!outcome.ok);
      if (!source) poll().catch(onError);
    } catch (err) {
      result.textContent = `${command.action}: ${err}`;
    }
  }

  // -- login -----------------------------------------------------------------------------------------------
  function showLogin(message) {
    stopLive();
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token").focus();
  }

  async function showApp() {
    $("login").hidden = true;
    $("app").hidden = false;
    equity = [];
    lastStatus = null;
    await loadEquity();
    await poll();
    startStream();
  }

  async function login(event) {
    event.preventDefault();
    const input = $("token");
    const token = input.value;
    input.value = "";                       // the token is not kept anywhere in the page
    $("login-error").textContent = "";
    try {
      const answer = await fetch(API + "login", {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
      });
      if (!answer.ok) {
        $("login-error").textContent = answer.status === 403 ? "wrong token" : `login failed (HTTP ${answer.status})`;
        return;
      }
      await showApp();
    } catch (err) {
      $("login-error").textContent = err instanceof AuthError ? "the session was refused" : String(err);
    }
  }

  async function logout() {
    stopLive();
    await fetch(API + "logout", { method: "POST", credentials: "same-origin" }).catch(() => {});
    showLogin("logged out");
  }

  function init() {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("filter").addEventListener("change", () => { if (last) render(last); });
    for (const button of document.querySelectorAll("#controls button[data-action]")) {
      button.addEventListener("click", () => confirmControl(button.dataset.action, null));
    }
    $("confirm").addEventListener("close", () => {
      const command = pending;
      pending = null;
      if ($("confirm").returnValue === "ok" && command) sendControl(command, $("confirm-reason").value);
    });
    window.addEventListener("resize", () => renderEquity());
    // an existing session (the cookie) opens the dashboard directly; otherwise the login
    get("status").then(() => showApp(), (err) => showLogin(err instanceof AuthError ? "" : String(err)));
  }

  document.addEventListener("DOMContentLoaded", init);
})();
