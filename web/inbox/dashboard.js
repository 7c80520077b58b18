// Switchboard inbox: the supervisors' dashboard.
//
// A view in place of the conversation panes, for supervisors and admins
// only (the button in the top bar shows for them): the KPIs of today, the
// last 7 or the last 30 days from GET /api/v1/kpis, filtered by channel,
// team and agent, as tiles (CSAT, NPS, FCR, AHT, first response, SLA,
// bot deflection), a chart of the volume by hour and one by channel, two
// tables, and an "Export CSV" button. While it is open and the page is
// visible it fetches again every 30 s, and a few seconds after the socket
// reports a change to a conversation.
//
// The charts are uPlot (vendor/uplot), loaded the first time the view
// opens. app.js calls SwitchboardDashboard.render() whenever it renders
// its frame (login, logout, language) and .event(type, data) for every
// socket event; it lends api, t, errorText, agentName, me and token
// through SwitchboardInbox.
//
// Security rule of this file, as of app.js: text from the API reaches the
// page only through textContent, text nodes or attribute values set by
// name; nothing is ever parsed as HTML. No inline styles (the page's CSP
// forbids them): classes and data attributes only; uPlot sizes its own
// elements through the CSSOM, which the CSP allows.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const inbox = () => globalThis.SwitchboardInbox || null;
  const t = (key, params) => (inbox() ? inbox().t(key, params) : key);

  const REFRESH_MS = 30000; // while open and visible
  const EVENT_DELAY_MS = 5000; // after a socket event, at most one fetch per delay
  const UPLOT_JS = "/inbox/vendor/uplot/uPlot.iife.min.js";
  const UPLOT_CSS = "/inbox/vendor/uplot/uPlot.min.css";
  const CHANNELS = ["webchat", "wechat_oa", "wechat_mp", "email", "cti", "qr"];
  const RANGES = { today: 1, days7: 7, days30: 30 };
  const LIVE_EVENTS = new Set(["conversation.updated", "conversation.assigned", "message.new", "call.updated"]);
  const COLORS = { opened: "#3558e6", resolved: "#1f9d55", msgs: "#c98a00", replies: "#8a4fd8" };

  // D is the dashboard's state.
  const D = {
    open: false, range: "today", channel: "", team: "", agent: "",
    report: null, loading: false, err: null, seq: 0, at: 0,
    teams: [], agents: [], listsAt: 0,
    timer: 0, soon: 0, lang: "", built: false,
    charts: { hour: null, channel: null }, sig: { hour: "", channel: "" }, peak: 0,
  };

  // h builds an element; it never parses HTML (app.js's, the inbox's one).
  const h = (tag, props, ...kids) => globalThis.SwitchboardInbox.h(tag, props, ...kids);
  // label is an element whose text follows the language (app.js's
  // applyStatic translates data-i18n on a switch).
  const label = (tag, key, props) => h(tag, Object.assign({ data: { i18n: key }, text: t(key) }, props || {}));
  const list = (v) => (Array.isArray(v) ? v : []);
  const num = (v) => (typeof v === "number" && isFinite(v) ? v : null);
  const lang = () => (document.documentElement.lang === "en" ? "en" : "zh");

  function can() {
    const me = inbox() && typeof inbox().me === "function" ? inbox().me() : null;
    return !!me && (me.role === "supervisor" || me.role === "admin");
  }

  function store(value) {
    try {
      if (value === undefined) return sessionStorage.getItem("sb.dashboard");
      if (value === null) sessionStorage.removeItem("sb.dashboard");
      else sessionStorage.setItem("sb.dashboard", value);
    } catch (_) { /* storage disabled */ }
    return null;
  }

  // ---------- numbers
  function fmtNum(v, digits) {
    if (num(v) == null) return t("dash.none");
    return new Intl.NumberFormat(lang() === "zh" ? "zh-CN" : "en", { maximumFractionDigits: digits ?? 2 }).format(v);
  }
  const fmtPct = (v) => (num(v) == null ? t("dash.none") : fmtNum(v, 1) + "%");
  function fmtDur(sec) {
    if (num(sec) == null) return t("dash.none");
    const s = Math.round(sec);
    if (s < 60) return t("dash.dur.s", { s });
    if (s < 3600) return t("dash.dur.m", { m: Math.floor(s / 60), s: s % 60 });
    return t("dash.dur.h", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  }
  const channelLabel = (c) => {
    const s = t("channel." + c);
    return s === "channel." + c ? c : s;
  };
  const agentLabel = (id) => (id ? (inbox() ? inbox().agentName(id) : id) || id : t("dash.unassigned"));
  function teamLabel(id) {
    if (!id) return t("dash.noTeam");
    const tm = D.teams.find((x) => x.id === id);
    return (tm && tm.name) || id;
  }

  // ---------- frame
  function build() {
    if (D.built) return;
    const view = $("dashboard-view");
    if (!view) return;
    D.built = true;
    const rangeSel = h("select", { id: "dash-range", "data-i18n-aria": "dash.range", "aria-label": t("dash.range") },
      ...Object.keys(RANGES).map((k) => label("option", "dash." + k, { value: k })));
    const channelSel = h("select", { id: "dash-channel", "data-i18n-aria": "filter.channel", "aria-label": t("filter.channel") },
      label("option", "filter.allChannels", { value: "" }),
      ...CHANNELS.map((c) => label("option", "channel." + c, { value: c })));
    const teamSel = h("select", { id: "dash-team", "data-i18n-aria": "dash.team", "aria-label": t("dash.team") });
    const agentSel = h("select", { id: "dash-agent", "data-i18n-aria": "dash.agent", "aria-label": t("dash.agent") });
    view.append(
      h("header", { class: "dash-head" },
        label("h2", "dash.title", { id: "dashboard-title", class: "dash-title" }),
        h("span", { id: "dash-period", class: "dash-period" }),
        h("span", { class: "spacer" }),
        label("button", "dash.back", { id: "dash-close", type: "button", class: "btn btn-sm" })),
      h("div", { class: "dash-bar" },
        rangeSel, channelSel, teamSel, agentSel,
        label("button", "dash.refresh", { id: "dash-refresh", type: "button", class: "btn btn-ghost btn-sm" }),
        label("button", "dash.export", { id: "dash-export", type: "button", class: "btn btn-sm" }),
        h("span", { class: "spacer" }),
        h("span", { id: "dash-status", class: "dash-status", role: "status" })),
      h("div", { class: "dash-scroll" },
        h("section", { id: "dash-tiles", class: "dash-tiles", "data-i18n-aria": "dash.kpis", "aria-label": t("dash.kpis") }),
        h("p", { id: "dash-counts", class: "dash-counts" }),
        h("div", { class: "dash-charts" },
          h("figure", { class: "dash-card dash-card-wide" },
            label("figcaption", "dash.volumes"),
            h("div", { id: "dash-chart-hour", class: "dash-chart", role: "img", "data-i18n-aria": "dash.volumes", "aria-label": t("dash.volumes") })),
          h("figure", { class: "dash-card" },
            label("figcaption", "dash.byChannel"),
            h("div", { id: "dash-chart-channel", class: "dash-chart", role: "img", "data-i18n-aria": "dash.byChannel", "aria-label": t("dash.byChannel") }))),
        h("div", { class: "dash-tables" },
          h("section", { class: "dash-card" }, label("h3", "dash.byChannel"), h("table", { id: "dash-table-channel", class: "dash-table" })),
          h("section", { class: "dash-card" }, label("h3", "dash.byAgent"), h("table", { id: "dash-table-agent", class: "dash-table" }))),
        label("p", "dash.help", { class: "dash-help" })));

    rangeSel.addEventListener("change", () => { D.range = rangeSel.value; load(); });
    channelSel.addEventListener("change", () => { D.channel = channelSel.value; load(); });
    teamSel.addEventListener("change", () => { D.team = teamSel.value; load(); });
    agentSel.addEventListener("change", () => { D.agent = agentSel.value; load(); });
    $("dash-close").addEventListener("click", close);
    $("dash-refresh").addEventListener("click", () => load());
    $("dash-export").addEventListener("click", exportCSV);
  }

  // render shows the button to supervisors and admins and the view in
  // place of the panes while it is open; app.js calls it whenever it
  // renders its own frame.
  function render() {
    const btn = $("dashboard-toggle");
    if (!btn) return;
    const allowed = can();
    if (!allowed && (D.open || D.report || D.teams.length)) reset(); // logged out
    btn.hidden = !allowed;
    btn.setAttribute("aria-pressed", D.open ? "true" : "false");
    btn.classList.toggle("on", D.open);
    const view = $("dashboard-view");
    view.hidden = !D.open;
    if (!D.open) return;
    document.querySelector(".panes").hidden = true;
    document.body.dataset.view = "dashboard";
    if (D.lang !== lang()) {
      D.lang = lang();
      renderFilters();
      renderReport(true);
    }
  }

  function open() {
    if (!can()) return;
    // One view at a time: the quarantine closes (app.js's own button).
    if (!$("quarantine-view").hidden) $("quarantine-close").click();
    build();
    D.open = true;
    store("1");
    D.lang = "";
    render();
    clearInterval(D.timer);
    D.timer = setInterval(tick, REFRESH_MS);
    loadLists();
    load();
  }

  function close() {
    D.open = false;
    store(null);
    clearInterval(D.timer);
    clearTimeout(D.soon);
    D.timer = D.soon = 0;
    D.seq++; // a fetch under way is dropped
    D.loading = false;
    $("dashboard-view").hidden = true;
    document.querySelector(".panes").hidden = !$("quarantine-view").hidden;
    document.body.dataset.view = $("quarantine-view").hidden ? "inbox" : "quarantine";
    const btn = $("dashboard-toggle");
    btn.setAttribute("aria-pressed", "false");
    btn.classList.remove("on");
  }

  // reset forgets everything (a logout, another user).
  function reset() {
    close();
    D.report = null;
    D.err = null;
    D.teams = [];
    D.agents = [];
    D.listsAt = 0;
    D.range = "today";
    D.channel = D.team = D.agent = "";
    for (const k of Object.keys(D.charts)) dropChart(k);
  }

  function tick() {
    if (D.open && document.visibilityState === "visible" && !D.loading) load();
  }

  // event: a change to a conversation may change the figures; fetch again
  // a few seconds later (one fetch for a burst of events).
  function event(type) {
    if (!D.open || !LIVE_EVENTS.has(type) || D.soon) return;
    D.soon = setTimeout(() => { D.soon = 0; tick(); }, EVENT_DELAY_MS);
  }

  // ---------- data
  function query() {
    const q = new URLSearchParams({ days: String(RANGES[D.range] || 1) });
    if (D.channel) q.set("channel", D.channel);
    if (D.team) q.set("team", D.team);
    if (D.agent) q.set("agent", D.agent);
    return q;
  }

  async function load() {
    const ib = inbox();
    if (!ib || !D.open) return;
    const seq = ++D.seq;
    D.loading = true;
    renderStatus();
    try {
      const r = await ib.api("GET", "/kpis?" + query().toString());
      if (seq !== D.seq) return;
      D.report = r && typeof r === "object" ? r : null;
      D.err = null;
      D.at = Date.now();
    } catch (e) {
      if (seq !== D.seq) return;
      D.err = e;
    } finally {
      if (seq === D.seq) D.loading = false;
    }
    renderReport(false);
  }

  // loadLists fetches the teams and agents for the filters (once a
  // minute at most).
  async function loadLists() {
    const ib = inbox();
    if (!ib || Date.now() - D.listsAt < 60000) return;
    D.listsAt = Date.now();
    const [teams, agents] = await Promise.allSettled([ib.api("GET", "/teams"), ib.api("GET", "/agents")]);
    if (teams.status === "fulfilled") D.teams = list(teams.value && teams.value.items).filter((x) => x && typeof x.id === "string");
    if (agents.status === "fulfilled") D.agents = list(agents.value && agents.value.items).filter((x) => x && typeof x.id === "string");
    renderFilters();
  }

  async function exportCSV() {
    const ib = inbox();
    const btn = $("dash-export");
    if (!ib || btn.disabled) return;
    btn.disabled = true;
    let res = null;
    try {
      res = await fetch("/api/v1/kpis?" + query().toString(), {
        headers: { Authorization: "Bearer " + ib.token(), Accept: "text/csv" }, cache: "no-store",
      });
    } catch (_) { res = null; }
    btn.disabled = false;
    if (res && res.status === 401) { ib.api("GET", "/me").catch(() => {}); return; }
    if (!res || !res.ok) {
      D.err = { status: res ? res.status : 0, text: res ? t("err.unknown", { status: res.status }) : t("err.network") };
      renderStatus();
      return;
    }
    const blob = await res.blob();
    const name = (/filename="([\w.-]+)"/.exec(res.headers.get("Content-Disposition") || "") || [])[1] || "switchboard-kpis.csv";
    const u = URL.createObjectURL(new Blob([blob], { type: "text/csv" }));
    const a = h("a", { href: u, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(u), 60000);
  }

  // ---------- rendering
  function renderFilters() {
    if (!D.built) return;
    $("dash-range").value = D.range;
    $("dash-channel").value = D.channel;
    const teamSel = $("dash-team");
    teamSel.replaceChildren(label("option", "dash.allTeams", { value: "" }),
      ...D.teams.map((tm) => h("option", { value: tm.id, text: tm.name || tm.id })));
    teamSel.value = D.team;
    const agentSel = $("dash-agent");
    agentSel.replaceChildren(label("option", "dash.allAgents", { value: "" }),
      ...D.agents.map((a) => h("option", { value: a.id, text: a.name || a.email || a.id })));
    agentSel.value = D.agent;
  }

  function renderStatus() {
    const el = $("dash-status");
    if (!el) return;
    el.dataset.state = D.err ? "error" : D.loading ? "loading" : D.report ? "ok" : "idle";
    if (D.err) {
      const e = D.err;
      el.textContent = e.status === 503 ? t("dash.unavailable") : e.text || (inbox() ? inbox().errorText(e) : String(e.status));
    } else if (D.loading && !D.report) {
      el.textContent = t("dash.loading");
    } else if (D.at) {
      el.textContent = t("dash.updated", { time: new Date(D.at).toLocaleTimeString(lang() === "zh" ? "zh-CN" : "en-GB") });
    } else {
      el.textContent = "";
    }
  }

  // renderReport draws the tiles, tables and charts; relabel redraws the
  // charts in another language.
  function renderReport(relabel) {
    if (!D.built) return;
    renderStatus();
    const r = D.report;
    renderPeriod(r);
    renderTiles(r);
    const v = (r && r.volumes) || {};
    const calls = (r && r.calls) || {};
    $("dash-counts").textContent = r ? [
      t("dash.opened") + " " + fmtNum(v.opened), t("dash.resolved") + " " + fmtNum(v.resolved),
      t("dash.customerMsgs") + " " + fmtNum(v.customer_msgs), t("dash.agentReplies") + " " + fmtNum(v.agent_replies),
      t("dash.calls", { answered: fmtNum(calls.answered), missed: fmtNum(calls.missed) }),
    ].join(" · ") : "";
    renderTable("dash-table-channel", "dash.channel", list(v.by_channel), channelLabel);
    renderTable("dash-table-agent", "dash.agent", list(v.by_agent), agentLabel);
    if (relabel) for (const k of Object.keys(D.charts)) dropChart(k);
    drawCharts(r);
  }

  function renderPeriod(r) {
    const el = $("dash-period");
    if (!r || !r.from || !r.to) { el.textContent = ""; return; }
    let f;
    try {
      f = new Intl.DateTimeFormat(lang() === "zh" ? "zh-CN" : "en-GB", { dateStyle: "medium", timeZone: r.time_zone || "UTC" });
    } catch (_) {
      f = new Intl.DateTimeFormat(lang() === "zh" ? "zh-CN" : "en-GB", { dateStyle: "medium" });
    }
    const from = new Date(r.from);
    const last = new Date(Date.parse(r.to) - 1);
    const a = f.format(from);
    const b = f.format(last);
    el.textContent = (a === b ? a : a + " – " + b) + (r.time_zone ? " (" + r.time_zone + ")" : "");
  }

  function tile(kpi, value, sub) {
    return h("div", { class: "dash-tile", data: { kpi } },
      h("div", { class: "dash-tile-label", text: t("dash." + kpi) }),
      h("div", { class: "dash-tile-value", text: value }),
      h("div", { class: "dash-tile-sub", text: sub }));
  }

  function renderTiles(r) {
    const g = (path) => path.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), r);
    const n = (path) => fmtNum(g(path) ?? 0);
    $("dash-tiles").replaceChildren(
      tile("csat", fmtNum(g("csat.average")), t("dash.csatSub", { n: n("csat.responses"), pct: fmtPct(g("csat.satisfied_pct")) })),
      tile("nps", fmtNum(g("nps.score"), 1), t("dash.responses", { n: n("nps.responses") })),
      tile("fcr", fmtPct(g("fcr.pct")), t("dash.fcrSub", { n: n("fcr.first_contact"), total: n("fcr.resolved") })),
      tile("aht", fmtDur(g("aht.avg_seconds")), t("dash.ahtSub", { n: n("aht.tickets"), talk: fmtDur(g("call_talk.avg_seconds")) })),
      tile("frt", fmtDur(g("first_response.avg_seconds")),
        t("dash.frtSub", { median: fmtDur(g("first_response.median_seconds")), p90: fmtDur(g("first_response.p90_seconds")) })),
      tile("sla", fmtPct(g("sla.overall.attainment_pct")), t("dash.slaSub", { met: n("sla.overall.met"), breached: n("sla.overall.breached") })),
      tile("bot", fmtPct(g("bot.deflection_pct")), t("dash.botSub", { n: n("bot.deflected"), total: n("bot.engaged") })));
  }

  function renderTable(id, keyLabel, rows, name) {
    const head = h("tr", {},
      h("th", { scope: "col", text: t(keyLabel) }),
      ...["opened", "resolved", "customerMsgs", "agentReplies"].map((k) => h("th", { scope: "col", class: "dash-num", text: t("dash." + k) })));
    const body = rows.map((row) => h("tr", { data: { key: String(row.key ?? "") } },
      h("th", { scope: "row", text: name(String(row.key ?? "")) }),
      ...["opened", "resolved", "customer_msgs", "agent_replies"].map((k) => h("td", { class: "dash-num", data: { col: k }, text: fmtNum(row[k] ?? 0) }))));
    const empty = rows.length ? null : h("tr", {}, h("td", { colspan: "5", class: "dash-empty", text: t("dash.noData") }));
    $(id).replaceChildren(h("thead", {}, head), h("tbody", {}, ...body, empty));
  }

  // ---------- charts
  let uplotP = null;
  function loadUPlot() {
    if (globalThis.uPlot) return Promise.resolve(globalThis.uPlot);
    if (!uplotP) {
      uplotP = new Promise((resolve, reject) => {
        document.head.append(h("link", { rel: "stylesheet", href: UPLOT_CSS }));
        const s = h("script", { src: UPLOT_JS });
        s.addEventListener("load", () => resolve(globalThis.uPlot));
        s.addEventListener("error", () => { uplotP = null; reject(new Error("uPlot did not load")); });
        document.head.append(s);
      });
    }
    return uplotP;
  }

  function dropChart(k) {
    if (D.charts[k]) D.charts[k].destroy();
    D.charts[k] = null;
    D.sig[k] = "";
  }

  async function drawCharts(r) {
    let U;
    try { U = await loadUPlot(); } catch (e) { console.error("dashboard", e); return; }
    if (!D.open || !r || D.report !== r) return;
    const hours = list(r.volumes && r.volumes.by_hour);
    const col = (rows, k) => rows.map((x) => num(x && x[k]) ?? 0);
    const hourData = [hours.map((x, i) => num(x && x.hour) ?? i), col(hours, "opened"), col(hours, "customer_msgs"), col(hours, "agent_replies")];
    let peak = 0;
    hourData[0].forEach((_, i) => {
      const sum = (j) => hourData[1][j] + hourData[2][j] + hourData[3][j];
      if (sum(i) > sum(peak)) peak = i;
    });
    D.peak = peak;
    chart(U, "hour", "dash-chart-hour", hourData, () => hourOptions(U));

    const chans = list(r.volumes && r.volumes.by_channel);
    const box = $("dash-chart-channel");
    box.dataset.empty = chans.length ? "" : "1";
    box.title = chans.length ? "" : t("dash.noData");
    if (!chans.length) { dropChart("channel"); box.replaceChildren(h("p", { class: "dash-empty", text: t("dash.noData") })); return; }
    const keys = chans.map((x) => String(x.key ?? ""));
    if (box.querySelector(".dash-empty")) box.replaceChildren();
    chart(U, "channel", "dash-chart-channel", [keys.map((_, i) => i), col(chans, "opened"), col(chans, "resolved")],
      () => channelOptions(U, keys), keys.join(","));
  }

  // chart draws data in the box: new data on the same chart, or a new
  // chart when the language or the shape (sig) changed.
  function chart(U, k, boxId, data, options, extraSig) {
    const box = $(boxId);
    const sig = lang() + "|" + data[0].length + "|" + (extraSig || "");
    if (D.charts[k] && D.sig[k] === sig) {
      D.charts[k].setData(data);
      return;
    }
    dropChart(k);
    box.replaceChildren();
    const o = options();
    o.width = Math.max(200, box.clientWidth);
    o.height = 220;
    D.charts[k] = new U(o, data, box);
    D.sig[k] = sig;
  }

  const yRange = (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.15))];

  function hourOptions(U) {
    const pad = (v) => String(v).padStart(2, "0");
    // The legend shows the busiest hour until the pointer picks another.
    const showPeak = (u) => { if (u.cursor.idx == null) u.setLegend({ idx: D.peak }, false); };
    return {
      class: "dash-uplot",
      scales: { x: { time: false, range: [-0.5, 23.5] }, y: { range: yRange } },
      axes: [
        { incrs: [1, 2, 3, 4, 6], values: (u, splits) => splits.map((v) => pad(v)), stroke: "#6b7385", grid: { show: false } },
        { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], stroke: "#6b7385", grid: { stroke: "#eef0f3" } },
      ],
      series: [
        { label: t("dash.hour"), value: (u, v) => (v == null ? "–" : pad(v) + ":00") },
        { label: t("dash.opened"), stroke: COLORS.opened, fill: "rgba(53,88,230,0.25)", paths: U.paths.bars({ size: [0.7, 28] }), points: { show: false } },
        { label: t("dash.customerMsgs"), stroke: COLORS.msgs, width: 2, points: { size: 4 } },
        { label: t("dash.agentReplies"), stroke: COLORS.replies, width: 2, points: { size: 4 } },
      ],
      legend: { live: true },
      hooks: { draw: [showPeak], setCursor: [showPeak] },
    };
  }

  function channelOptions(U, keys) {
    return {
      class: "dash-uplot",
      scales: { x: { time: false, range: (u) => [-0.5, u.data[0].length - 0.5] }, y: { range: yRange } },
      axes: [
        { splits: (u) => u.data[0].slice(), values: (u, splits) => splits.map((i) => (keys[i] == null ? "" : channelLabel(keys[i]))),
          stroke: "#6b7385", grid: { show: false } },
        { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], stroke: "#6b7385", grid: { stroke: "#eef0f3" } },
      ],
      series: [
        { label: t("dash.channel"), value: (u, i) => (i == null || keys[i] == null ? "–" : channelLabel(keys[i])) },
        { label: t("dash.opened"), stroke: COLORS.opened, fill: "rgba(53,88,230,0.55)", paths: U.paths.bars({ size: [0.35, 40], align: -1 }), points: { show: false } },
        { label: t("dash.resolved"), stroke: COLORS.resolved, fill: "rgba(31,157,85,0.55)", paths: U.paths.bars({ size: [0.35, 40], align: 1 }), points: { show: false } },
      ],
      legend: { live: false },
    };
  }

  function resize() {
    for (const [k, id] of [["hour", "dash-chart-hour"], ["channel", "dash-chart-channel"]]) {
      const u = D.charts[k];
      const box = $(id);
      if (u && box && box.clientWidth > 0) u.setSize({ width: Math.max(200, box.clientWidth), height: 220 });
    }
  }

  // ---------- wiring
  function wire() {
    const btn = $("dashboard-toggle");
    if (!btn) return;
    btn.addEventListener("click", () => (D.open ? close() : open()));
    // The quarantine's button (app.js) takes the place of the dashboard.
    $("quarantine-toggle").addEventListener("click", () => { if (D.open && !$("quarantine-view").hidden) close(); });
    // While the dashboard is open, the inbox's keys (j, k, r, n, /, Enter)
    // stay away from the hidden conversation list; Escape closes it.
    document.addEventListener("keydown", (e) => {
      if (!D.open || e.isComposing) return;
      if (e.key === "Escape") {
        const tag = e.target && e.target.tagName;
        if (tag !== "SELECT" && tag !== "INPUT") close();
      }
      e.stopPropagation();
    }, true);
    let rt = 0;
    window.addEventListener("resize", () => { clearTimeout(rt); rt = setTimeout(resize, 150); });
    document.addEventListener("visibilitychange", () => {
      if (D.open && document.visibilityState === "visible" && Date.now() - D.at > REFRESH_MS) tick();
    });
  }

  // A reload keeps the dashboard open once the inbox knows the user.
  let reopen = store() === "1";
  function renderHook() {
    render();
    if (reopen && can()) { reopen = false; open(); }
  }

  globalThis.SwitchboardDashboard = { render: renderHook, event };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
