// Switchboard agent inbox. Plain DOM, no framework, no build step.
//
// Security rule of this file: text from the API or the socket only ever
// reaches the page through textContent, text nodes or attribute values set
// by name; nothing is ever parsed as HTML.
(function () {
  "use strict";

  const DICT = globalThis.SwitchboardI18n || { zh: {}, en: {} };
  const API = "/api/v1";
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;

  // ---------- storage (may be unavailable in locked-down browsers)
  function store(kind, key, value) {
    try {
      const s = kind === "local" ? localStorage : sessionStorage;
      if (value === undefined) return s.getItem(key);
      if (value === null) s.removeItem(key);
      else s.setItem(key, value);
    } catch (_) { /* storage disabled: keep going without it */ }
    return null;
  }

  // ---------- i18n
  let lang = (function () {
    const saved = store("local", "sb.lang");
    if (saved === "zh" || saved === "en") return saved;
    return /^zh/i.test(navigator.language || "") ? "zh" : "en";
  })();

  function t(key, params) {
    let s = (DICT[lang] && DICT[lang][key]) ?? (DICT.en && DICT.en[key]) ?? key;
    if (params) s = s.replace(/\{(\w+)\}/g, (_, k) => (params[k] == null ? "" : String(params[k])));
    return s;
  }

  // ---------- DOM helper: never parses HTML
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    if (props) {
      for (const k of Object.keys(props)) {
        const v = props[k];
        if (v == null || v === false) continue;
        if (k === "class") el.className = v;
        else if (k === "text") el.textContent = v;
        else if (k === "data") Object.assign(el.dataset, v);
        else if (k === "selected" || k === "disabled" || k === "hidden" || k === "required") el[k] = true;
        else el.setAttribute(k, String(v));
      }
    }
    for (const kid of kids) if (kid != null && kid !== false) el.append(kid);
    return el;
  }
  const token = (s) => String(s || "").replace(/[^a-z0-9_-]/gi, "");

  // ---------- state
  const S = {
    token: store("session", "sb.token") || "",
    me: null, presence: null,
    view: store("session", "sb.view") || "all",
    channel: "", status: "", search: "",
    // sort is "" (most recently active first) or "due" (running SLA
    // clocks, the earliest due first).
    sort: store("session", "sb.sort") === "due" ? "due" : "",
    convs: [], byId: new Map(), nextBefore: null, listLoading: false, listSeq: 0,
    cursor: null, openId: null, open: null,
    msgs: [], msgById: new Map(), msgEls: new Map(), threadSeq: 0, threadLoading: false,
    pendingDelivery: new Map(), seen: new Set(), fetching: new Set(),
    unread: new Set(),
    agents: [], teams: [], agentsAt: 0, agentsAsked: 0, agentsReq: null, agentsAgain: false, agentsTimer: 0, ticketSeq: 0,
    catchUp: null, catchUpAgain: false, catchUpAfterLoad: false, ticketTimer: 0,
    customer: null, customerLoading: false, customerSeq: 0, ticket: null,
    noteMode: false, sending: false, draftKey: null, draftSig: null,
    atts: [], attSeq: 0, attGen: 0,
    windowTimer: 0, windowRefused: null,
    media: new Map(), mediaGen: 0, csp: null,
    lastIds: { agent: "", inbox: "" },
    ws: null, wsTimer: 0, pingTimer: 0, backoff: 0, lastRx: 0, conn: "reconnecting",
    error: null, notice: null, loginErr: null,
    quar: newQuarantine(),
    cm: newCustomerTools(null),
  };
  if (!["mine", "unassigned", "all"].includes(S.view)) S.view = "all";
  // newCustomerTools is the state of the customer panel's tools for
  // customer id: adding an identity, finding a customer to merge, the
  // audit with its undo buttons.
  function newCustomerTools(id) {
    return { for: id, addType: "phone", addValue: "", busy: "", err: null, errAt: "", taken: null, query: "", found: null,
      searched: false, confirm: "", confirmTimer: 0, audit: [], auditSeq: 0 };
  }
  // newQuarantine is the quarantine view's state (supervisors and admins).
  function newQuarantine() {
    return { open: false, items: [], next: null, loading: false, loaded: false, seq: 0, confirm: null, confirmTimer: 0, busy: new Set() };
  }

  // ---------- API
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || code);
      this.status = status;
      this.code = code;
      this.detail = message;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (S.token) headers.Authorization = "Bearer " + S.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(API + path, {
        method, headers, cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (_) {
      throw new ApiError(0, "network", "");
    }
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch (_) { data = null; }
    }
    if (res.status === 401 && path !== "/auth/login") {
      sessionExpired();
      const e = new ApiError(401, "unauthorized", "");
      e.handled = true;
      throw e;
    }
    if (!res.ok) {
      const er = (data && data.error) || {};
      const e = new ApiError(res.status, er.code || "", er.message || "");
      // identity_taken names the customer the identity belongs to.
      if (typeof er.customer_id === "string") e.customerId = er.customer_id;
      throw e;
    }
    return data;
  }

  function errorText(e) {
    if (typeof e === "function") return e();
    if (!(e instanceof ApiError)) return t("err.unknown", { status: "?" });
    if (e.status === 0) return t("err.network");
    const key = "err." + e.code;
    const base = DICT[lang] && DICT[lang][key] ? t(key) : t("err.unknown", { status: e.status });
    return e.detail ? base + " — " + e.detail : base;
  }

  function showError(e) {
    if (e && e.handled) return;
    S.error = e;
    renderError();
  }
  function hideError() { S.error = null; renderError(); }
  function renderError() {
    const b = $("error-banner");
    b.hidden = !S.error;
    $("error-text").textContent = S.error ? errorText(S.error) : "";
  }

  // showNotice shows a line above the panes; action, if any, runs when it
  // is clicked. kind (e.g. "sla.warning") marks what it is about.
  function showNotice(textFn, action, kind) {
    S.notice = { textFn, action, kind: kind || "" };
    renderNotice();
  }
  function renderNotice() {
    const n = S.notice;
    $("notice").hidden = !n;
    $("notice").dataset.kind = n ? n.kind : "";
    const body = $("notice-body");
    body.textContent = n ? n.textFn() : "";
    if (n && n.action) body.title = t("notice.open");
    else body.removeAttribute("title");
  }

  // ---------- time
  function fmt(d, opts) {
    return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", opts).format(d);
  }
  function rel(ts) {
    const d = new Date(ts);
    if (!ts || isNaN(d)) return "";
    const s = (Date.now() - d.getTime()) / 1000;
    if (s < 60) return t("time.now");
    if (s < 3600) return t("time.min", { n: Math.floor(s / 60) });
    if (s < 6 * 3600) return t("time.hour", { n: Math.floor(s / 3600) });
    const now = new Date();
    const hm = fmt(d, { hour: "2-digit", minute: "2-digit" });
    if (d.toDateString() === now.toDateString()) return hm;
    const y = new Date(now);
    y.setDate(now.getDate() - 1);
    if (d.toDateString() === y.toDateString()) return t("time.yesterday", { time: hm });
    if (d.getFullYear() === now.getFullYear()) return fmt(d, { month: "short", day: "numeric" });
    return fmt(d, { year: "numeric", month: "short", day: "numeric" });
  }
  function full(ts) {
    const d = new Date(ts);
    return !ts || isNaN(d) ? "" : fmt(d, { dateStyle: "medium", timeStyle: "short" });
  }
  function timeEl(cls, ts) {
    return h("time", { class: cls, datetime: ts || "", title: full(ts), data: { ts: ts || "" } }, rel(ts));
  }
  function refreshTimes() {
    for (const el of document.querySelectorAll("time[data-ts]")) {
      el.textContent = rel(el.dataset.ts);
      el.title = full(el.dataset.ts);
    }
    // The rows' SLA countdowns, from what the list already knows.
    for (const slot of document.querySelectorAll("#conversation-list .ci-sla")) {
      const c = S.byId.get(slot.dataset.id);
      const b = c ? slaBadge(c) : null;
      slot.replaceChildren(...(b ? [b] : []));
    }
    const sla = $("ticket-sla");
    if (sla && S.ticket) {
      const nb = slaBox(S.ticket);
      if (nb) sla.replaceWith(nb);
    }
    if (S.openId) renderComposer(); // the reply window, should its timer have been held back
  }

  // ---------- labels
  const tOr = (key, raw) => (DICT[lang] && DICT[lang][key] ? t(key) : String(raw || ""));
  const channelLabel = (c) => tOr("channel." + c, c);
  const statusLabel = (s) => tOr("status." + s, s);
  const badge = (c) => h("span", { class: "badge ch-" + token(c), data: { channel: token(c) }, title: t("channel.title", { name: channelLabel(c) }) }, channelLabel(c));
  const statusPill = (s) => h("span", { class: "pill st-" + token(s) }, statusLabel(s));
  function agentName(id) {
    if (!id) return "";
    if (S.me && S.me.id === id) return S.me.name || id;
    const a = S.agents.find((x) => x.id === id);
    return a ? a.name || a.email || id : id;
  }
  function teamName(id) {
    const tm = S.teams.find((x) => x.id === id);
    return tm ? tm.name || id : id || "";
  }
  // actorName names who made a change: an agent, or "system", "customer"
  // or "bot" (the FAQ bot).
  function actorName(id) {
    if (id === "system" || id === "customer" || id === "bot") return t("actor." + id);
    return agentName(id);
  }
  function msgBody(m) {
    if (m.direction === "system") return systemText(m);
    if (m.text) return m.text;
    if (!m.kind || m.kind === "text") return "";
    return tOr("kind." + m.kind, "") || t("kind.other", { kind: m.kind });
  }
  // systemText turns a system message (kind event; its meaning is in
  // fields, e.g. {"event":"assigned","from":"li","to":"wang"}) into a line.
  function systemText(m) {
    const f = m.fields && typeof m.fields === "object" ? m.fields : {};
    const ev = typeof f.event === "string" ? f.event : "";
    if (ev === "assigned") {
      const from = f.from || "", to = f.to || "";
      if (!to) return t("sys.returned");
      if (!from) return t("sys.assigned", { to: agentName(to) });
      return t("sys.transferred", { from: agentName(from), to: agentName(to) });
    }
    if (m.text) return m.text;
    return ev ? t("sys.event", { event: ev }) : t("sys.eventPlain");
  }

  // ---------- login / logout
  function setLoginError(fn) {
    S.loginErr = fn;
    const el = $("login-error");
    el.hidden = !fn;
    el.textContent = fn ? fn() : "";
  }

  async function doLogin(ev) {
    ev.preventDefault();
    const email = $("login-email").value.trim();
    const password = $("login-password").value;
    if (!email || !password) { setLoginError(() => t("login.missing")); return; }
    const btn = $("login-submit");
    btn.disabled = true;
    btn.textContent = t("login.busy");
    try {
      const r = await api("POST", "/auth/login", { email, password });
      S.token = r.token;
      S.me = r.agent || null;
      store("session", "sb.token", S.token);
      $("login-password").value = "";
      setLoginError(null);
      startApp();
    } catch (e) {
      setLoginError(e.status === 401 ? () => t("login.bad") : () => errorText(e));
    } finally {
      btn.disabled = false;
      btn.textContent = t("login.submit");
    }
  }

  function showLogin() {
    $("app").hidden = true;
    $("login-screen").hidden = false;
    delete document.body.dataset.ready;
    document.title = "Switchboard";
    $("login-email").focus();
  }

  function resetState() {
    disconnect();
    dropMedia();
    clearAtts();
    clearTimeout(S.agentsTimer);
    clearTimeout(S.ticketTimer);
    clearTimeout(S.windowTimer);
    clearTimeout(S.quar.confirmTimer);
    S.agentsTimer = S.ticketTimer = S.windowTimer = 0;
    S.agentsAgain = S.catchUpAgain = S.catchUpAfterLoad = false;
    S.ticketSeq++;
    Object.assign(S, {
      token: "", me: null, presence: null, convs: [], byId: new Map(), nextBefore: null,
      cursor: null, openId: null, open: null, msgs: [], msgById: new Map(), msgEls: new Map(),
      pendingDelivery: new Map(), seen: new Set(), unread: new Set(), agents: [], teams: [],
      customer: null, ticket: null, lastIds: { agent: "", inbox: "" }, error: null, notice: null,
      draftKey: null, draftSig: null, sending: false, windowRefused: null,
      quar: Object.assign(newQuarantine(), { seq: S.quar.seq + 1 }),
      cm: newCustomerTools(null),
    });
    S.listSeq++;
    S.threadSeq++;
    S.customerSeq++;
    store("session", "sb.token", null);
    $("reply-text").value = "";
    renderError();
    renderNotice();
    renderQuarantineFrame();
    if (globalThis.SwitchboardCalls) globalThis.SwitchboardCalls.reset();
  }

  function sessionExpired() {
    if (!S.token) return;
    resetState();
    setLoginError(() => t("login.expired"));
    showLogin();
  }

  async function doLogout() {
    try { await api("POST", "/auth/logout"); } catch (_) { /* leaving anyway */ }
    resetState();
    setLoginError(null);
    showLogin();
  }

  // ---------- start
  async function startApp() {
    $("login-screen").hidden = true;
    $("app").hidden = false;
    renderAll();
    connect();
    mediaPolicy().then(() => renderCustomer());
    const meP = api("GET", "/me").then((r) => {
      if (r && r.agent) S.me = r.agent;
      if (r && r.presence) S.presence = r.presence;
      renderTop();
    });
    const side = Promise.allSettled([loadAgents(), loadTeams()]);
    try { await meP; } catch (e) { showError(e); }
    if (!S.token) return;
    await loadList(true, true);
    await side;
    if (S.token) {
      document.body.dataset.ready = "1";
      $("conversation-list").focus();
    }
  }

  // loadAgents fetches the agents with their presence (for names and the
  // transfer picker). Calls while a fetch is running share it, and one
  // more fetch follows it, since the running one may predate the change
  // that asked for a refresh.
  function loadAgents() {
    if (S.agentsReq) { S.agentsAgain = true; return S.agentsReq; }
    const tok = S.token;
    S.agentsAgain = false;
    S.agentsAsked = Date.now();
    S.agentsReq = (async () => {
      try {
        const r = await api("GET", "/agents");
        if (S.token !== tok) return;
        S.agents = Array.isArray(r && r.items) ? r.items : [];
        S.agentsAt = Date.now();
        renderHeader();
        renderList();
        refreshSystemTexts();
      } catch (e) { if (S.token === tok) showError(e); }
    })().finally(() => {
      S.agentsReq = null;
      if (S.agentsAgain && S.token && S.token === tok) loadAgents();
    });
    return S.agentsReq;
  }
  // agentsSoon refreshes the agents after conversation events: at most
  // once per 5 s, the last one trailing so the picker ends up current.
  function agentsSoon() {
    if (S.agentsTimer || !S.token) return;
    const wait = Math.max(0, S.agentsAsked + 5000 - Date.now());
    S.agentsTimer = setTimeout(() => {
      S.agentsTimer = 0;
      if (S.token) loadAgents();
    }, wait);
  }
  // ownPresence records the logged-in agent's presence, also in the
  // agents list, so the picker shows it at once.
  function ownPresence(p) {
    if (!p || typeof p !== "object" || !p.status) return;
    S.presence = p;
    const a = S.me && S.agents.find((x) => x && x.id === S.me.id);
    if (a) a.presence = Object.assign({}, a.presence, p);
    renderTop();
    renderHeader();
  }
  async function loadTeams() {
    try {
      const r = await api("GET", "/teams");
      S.teams = Array.isArray(r && r.items) ? r.items : [];
      renderHeader();
    } catch (e) { showError(e); }
  }

  // ---------- conversation list
  function matchesView(c) {
    // Sorted by due time, the list holds the running clocks only.
    if (S.sort === "due" && !c.sla_due) return false;
    if (S.channel && c.channel !== S.channel) return false;
    if (S.status && c.status !== S.status) return false;
    if (S.view === "mine") return !!S.me && c.assignee === S.me.id;
    if (S.view === "unassigned") return !c.assignee && c.status !== "closed";
    return true;
  }
  function matchesSearch(c, q) {
    return [c.customer_name, c.preview, c.ticket_id, c.id].some((v) => v && String(v).toLowerCase().includes(q));
  }
  function visibleConvs() {
    const q = S.search.trim().toLowerCase();
    return q ? S.convs.filter((c) => matchesSearch(c, q)) : S.convs;
  }

  async function loadList(reset, clear) {
    const seq = ++S.listSeq;
    const q = new URLSearchParams({ view: S.view });
    if (S.status) q.set("status", S.status);
    if (S.channel) q.set("channel", S.channel);
    // By due time the list is one page, earliest due first.
    const byDue = S.sort === "due";
    if (byDue) q.set("sort", "due");
    q.set("limit", "50");
    if (!reset && S.nextBefore && !byDue) q.set("before", S.nextBefore);
    if (clear) { S.convs = []; S.byId = new Map(); S.nextBefore = null; }
    S.listLoading = true;
    renderList();
    try {
      const r = await api("GET", "/conversations?" + q.toString());
      if (seq !== S.listSeq) return;
      if (reset) { S.convs = []; S.byId = new Map(); }
      for (const c of (r && Array.isArray(r.items) ? r.items : [])) {
        if (c && c.id && !S.byId.has(c.id)) { S.convs.push(c); S.byId.set(c.id, c); }
      }
      S.nextBefore = (!byDue && r && r.next_before) || null;
    } catch (e) {
      if (seq === S.listSeq) showError(e);
    } finally {
      if (seq === S.listSeq) { S.listLoading = false; renderList(); }
    }
  }

  function convRow(c) {
    const cls = ["conversation-item"];
    if (c.id === S.openId) cls.push("active");
    if (c.id === S.cursor) cls.push("cursor");
    if (S.unread.has(c.id)) cls.push("unread");
    const pr = c.priority === "urgent" || c.priority === "high"
      ? h("span", { class: "prio pr-" + c.priority }, tOr("priority." + c.priority, c.priority)) : null;
    return h("li", {
      class: cls.join(" "), role: "option", data: { id: c.id },
      "aria-selected": c.id === S.cursor ? "true" : "false",
    },
    h("div", { class: "ci-top" },
      S.unread.has(c.id) ? h("span", { class: "dot", title: t("list.unread") }) : null,
      h("span", { class: "conversation-customer" }, c.customer_name || c.customer_id || "—"),
      badge(c.channel),
      timeEl("conversation-time", c.last_message_at || c.created_at)),
    h("div", { class: "conversation-preview" }, c.preview || ""),
    h("div", { class: "ci-bottom" },
      c.ticket_id ? h("span", { class: "ci-ticket" }, "#" + c.ticket_id) : null,
      statusPill(c.status), pr,
      h("span", { class: "ci-sla", data: { id: c.id } }, slaBadge(c)),
      h("span", { class: "ci-assignee" + (c.assignee ? "" : " none") },
        c.assignee ? agentName(c.assignee) : t("list.unassigned"))));
  }

  // slaBadge is a row's service-level mark: breached (red), warning
  // (amber), or for a running clock due within the hour, the time left;
  // null for none. Its title is the due time.
  function slaBadge(c) {
    const due = Date.parse(c.sla_due);
    const title = isNaN(due) ? null : t("sla.dueAt", { time: full(c.sla_due) });
    const mark = (state, text) => h("span", { class: "sla-badge sla-" + state, data: { sla: state }, title }, text);
    if (c.sla_flag === "breached" || c.sla_flag === "warning") return mark(c.sla_flag, t("slaBadge." + c.sla_flag));
    if (isNaN(due)) return null;
    const left = due - Date.now();
    if (left > 3600000) return null;
    // Past due and not flagged yet: the breach is on its way.
    if (left <= 0) return mark("overdue", t("slaBadge.breached"));
    return mark("due", t("slaBadge.dueIn", { d: dur(left) }));
  }

  function renderList() {
    const ul = $("conversation-list");
    const items = visibleConvs();
    const rows = items.map(convRow);
    if (!rows.length) {
      const key = S.listLoading ? "list.loading" : (S.search.trim() && S.convs.length ? "list.noMatch" : "list.empty");
      rows.push(h("li", { class: "list-empty" }, t(key)));
    }
    ul.replaceChildren(...rows);
    ul.dataset.sort = S.sort || "recent";
    const more = $("load-more");
    more.hidden = !S.nextBefore || S.sort === "due";
    more.disabled = S.listLoading;
    const sd = $("sort-due");
    sd.setAttribute("aria-pressed", S.sort === "due" ? "true" : "false");
    sd.classList.toggle("on", S.sort === "due");
    for (const b of document.querySelectorAll(".tab")) {
      const on = b.dataset.view === S.view;
      b.classList.toggle("on", on);
      b.setAttribute("aria-selected", on ? "true" : "false");
    }
    const n = S.unread.size;
    document.title = (n ? "(" + n + ") " : "") + "Switchboard";
  }

  function upsertConv(c, opts) {
    if (!c || !c.id) return;
    opts = opts || {};
    const prev = S.byId.get(c.id);
    const merged = Object.assign({}, prev || {}, c);
    // A whole conversation (from the API or the socket; a partial update
    // has no channel) leaves sla_due and sla_flag out when there are none.
    if (c.channel !== undefined) {
      for (const k of ["sla_due", "sla_flag"]) if (c[k] === undefined) delete merged[k];
    }
    if (S.ticket) ticketSoon(c.id);
    patchCustomer(merged);
    if (S.open && S.open.id === c.id) {
      S.open = Object.assign({}, S.open, c);
      renderHeader();
    }
    const idx = S.convs.findIndex((x) => x.id === c.id);
    if (!matchesView(merged)) {
      if (idx >= 0) { S.convs.splice(idx, 1); S.byId.delete(c.id); }
      renderList();
      return;
    }
    if (opts.unread && c.id !== S.openId) S.unread.add(c.id);
    if (S.sort === "due") {
      // Kept in due order: activity does not move a row.
      const due = (x) => Date.parse(x.sla_due) || Infinity;
      if (idx >= 0) S.convs.splice(idx, 1);
      const pos = S.convs.findIndex((x) => due(x) > due(merged));
      S.convs.splice(pos < 0 ? S.convs.length : pos, 0, merged);
    } else if (idx >= 0) {
      S.convs[idx] = merged;
      if (opts.bump) { S.convs.splice(idx, 1); S.convs.unshift(merged); }
    } else {
      const at = Date.parse(merged.last_message_at || merged.created_at) || 0;
      let pos = S.convs.findIndex((x) => (Date.parse(x.last_message_at || x.created_at) || 0) < at);
      if (opts.bump || pos < 0) pos = opts.bump ? 0 : S.convs.length;
      S.convs.splice(pos, 0, merged);
    }
    S.byId.set(c.id, merged);
    renderList();
  }

  // patchCustomer keeps the customer panel's copy of a conversation and
  // its ticket in step with the list (status, preview, time).
  function patchCustomer(c) {
    const cu = S.customer;
    if (!cu || (c.customer_id && cu.id && c.customer_id !== cu.id)) return;
    let changed = false;
    const cv = Array.isArray(cu.conversations) && cu.conversations.find((x) => x && x.id === c.id);
    if (cv) {
      for (const k of ["status", "preview", "last_message_at", "assignee", "priority"]) {
        if (c[k] !== undefined && cv[k] !== c[k]) { cv[k] = c[k]; changed = true; }
      }
    }
    const tk = c.ticket_id && Array.isArray(cu.tickets) &&
      cu.tickets.find((x) => x && (x.conversation_id === c.id || String(x.number || x.id) === String(c.ticket_id)));
    if (tk) {
      if (c.status && tk.status !== c.status) { tk.status = c.status; changed = true; }
      if (c.preview && tk.subject !== c.preview) { tk.subject = c.preview; changed = true; }
    }
    if (changed) renderCustomer();
  }

  async function fetchConv(id, opts) {
    if (S.fetching.has(id)) return;
    S.fetching.add(id);
    try {
      const c = await api("GET", "/conversations/" + enc(id));
      upsertConv(c, opts);
    } catch (e) {
      if (e.status !== 404 && e.status !== 403) showError(e);
    } finally {
      S.fetching.delete(id);
    }
  }

  function moveCursor(d) {
    const items = visibleConvs();
    if (!items.length) return;
    let i = items.findIndex((c) => c.id === S.cursor);
    i = i < 0 ? (d > 0 ? 0 : items.length - 1) : Math.max(0, Math.min(items.length - 1, i + d));
    S.cursor = items[i].id;
    for (const li of $("conversation-list").children) {
      const on = li.dataset.id === S.cursor;
      li.classList.toggle("cursor", on);
      li.setAttribute("aria-selected", on ? "true" : "false");
      if (on) li.scrollIntoView({ block: "nearest" });
    }
  }

  // ---------- thread
  async function openConversation(id) {
    if (!id) return;
    const seq = ++S.threadSeq;
    S.openId = id;
    S.cursor = id;
    S.unread.delete(id);
    S.open = S.byId.get(id) ? Object.assign({}, S.byId.get(id)) : null;
    dropMedia();
    S.msgs = [];
    S.msgById = new Map();
    S.msgEls = new Map();
    S.pendingDelivery = new Map();
    S.threadLoading = true;
    S.catchUpAfterLoad = false;
    S.ticket = null;
    S.ticketSeq++;
    S.draftKey = S.draftSig = null;
    // Images chosen for one customer never go to another.
    clearAtts();
    document.body.classList.remove("show-customer");
    sendWatch();
    renderList();
    renderHeader();
    renderThread();
    renderComposer();
    if (!S.open) {
      try {
        const c = await api("GET", "/conversations/" + enc(id));
        if (seq !== S.threadSeq) return;
        S.open = c;
        renderHeader();
      } catch (e) {
        if (seq === S.threadSeq) { S.threadLoading = false; renderThread(); showError(e); }
        return;
      }
    }
    loadCustomer(S.open.customer_id);
    await loadMessages(seq);
  }

  async function loadMessages(seq) {
    const id = S.openId;
    // The API answers the newest messages first (oldest first within a
    // page); older pages come with before=<cursor of the oldest so far>.
    const limit = 200;
    let got = [];
    try {
      let before = "";
      for (let page = 0; page < 10; page++) {
        const q = new URLSearchParams({ limit: String(limit) });
        if (before) q.set("before", before);
        const r = await api("GET", "/conversations/" + enc(id) + "/messages?" + q.toString());
        if (seq !== S.threadSeq) return;
        const items = r && Array.isArray(r.items) ? r.items : [];
        got = items.concat(got);
        if (items.length < limit || !items[0].cursor) break;
        before = items[0].cursor;
      }
    } catch (e) {
      if (seq === S.threadSeq) { S.threadLoading = false; renderThread(); showError(e); }
      return;
    }
    // Messages that arrived on the socket while loading are kept.
    const live = S.msgs.filter((m) => !got.some((g) => g.id === m.id));
    S.msgs = [];
    S.msgById = new Map();
    for (const m of got.concat(live)) {
      if (!m || !m.id || S.msgById.has(m.id)) continue;
      const pd = S.pendingDelivery.get(m.id);
      if (pd && newerDelivery(pd, m.delivery)) m.delivery = pd;
      S.msgs.push(m);
      S.msgById.set(m.id, m);
    }
    S.pendingDelivery.clear();
    S.threadLoading = false;
    renderThread();
    if (S.catchUpAfterLoad) { S.catchUpAfterLoad = false; catchUpThread(); }
  }

  function msgClass(m) {
    switch (m.direction) {
      case "out": return "message-out";
      case "note": return "message-note";
      case "system": return "message-system";
      default: return "message-in";
    }
  }

  function deliveryEl(d) {
    const st = token(d && d.status) || "queued";
    let txt = tOr("delivery." + st, st);
    if (st === "failed" && d) {
      const why = [d.error, d.code ? "(" + d.code + ")" : ""].filter(Boolean).join(" ");
      if (why) txt += ": " + why;
    }
    return h("div", { class: "message-delivery", data: { status: st }, title: d && d.updated_at ? full(d.updated_at) : null }, txt);
  }

  function msgEl(m) {
    const cls = msgClass(m);
    if (cls === "message-system") {
      const by = m.author ? t("sys.by", { name: actorName(m.author) }) : null;
      return h("div", { class: "message message-system", data: { id: m.id }, title: by },
        h("span", { class: "message-text" }, msgBody(m)), " · ", timeEl("message-time", m.created_at));
    }
    if (m.kind === "event") return eventEl(m);
    if (cls === "message-out" && m.kind === "survey") return surveyEl(m);
    // Messages no agent wrote: the FAQ bot's, and the system's automatic
    // ones (a survey's follow-ups).
    const bot = cls === "message-out" && m.author === "bot";
    const auto = cls === "message-out" && m.author === "system";
    let who;
    if (cls === "message-in") who = m.author_name || (S.open && S.open.customer_name) || t("thread.customer");
    else who = m.author_name || agentName(m.author) || t("thread.agent");
    const kind = token(m.kind) || "text";
    const f = fieldsOf(m);
    let tag = null;
    if (bot) {
      tag = h("span", { class: "bot-tag", title: m.author_name || null }, t("thread.bot"));
    } else if (auto) {
      tag = h("span", { class: "auto-tag" }, t("thread.auto"));
    }
    const extra = bot ? " message-bot" : auto ? " message-auto" : "";
    const data = { id: m.id, kind };
    if (bot) data.bot = token(f.bot) || "reply";
    return h("div", { class: "message " + cls + extra, data },
      h("div", { class: "message-meta" },
        cls === "message-note" ? h("span", { class: "note-label" }, t("thread.note")) : null,
        tag,
        bot ? null : h("span", { class: "message-author" }, who),
        bot && f.bot && f.bot !== "answer" ? h("span", { class: "bot-action" }, tOr("thread.bot." + f.bot, f.bot)) : null,
        timeEl("message-time", m.created_at)),
      h("div", { class: "message-bubble kind-" + kind }, subjectEl(m), ...msgContent(m)),
      cls === "message-out" ? deliveryEl(m.delivery) : null);
  }

  // surveyEl: a satisfaction survey sent when the ticket resolved, a
  // system-like box with its question (the customer's answers are
  // ordinary messages; the ticket's history has the score).
  function surveyEl(m) {
    const kind = fieldsOf(m).survey === "nps" ? "nps" : "csat";
    return h("div", { class: "message message-survey", data: { id: m.id, kind: "survey", survey: kind } },
      h("div", { class: "survey-head" },
        h("span", { class: "survey-label" }, t("survey.sent")),
        h("span", { class: "survey-kind" }, kind.toUpperCase()),
        timeEl("message-time", m.created_at)),
      h("div", { class: "message-text survey-question" }, m.text || ""),
      deliveryEl(m.delivery));
  }

  // ---------- message kinds
  // Everything in a message is the customer's: it goes into the page as
  // text; a URL becomes a link only when it is http(s).
  const fieldsOf = (m) => {
    const f = m && m.fields && typeof m.fields === "object" ? m.fields : {};
    const out = {};
    for (const k of Object.keys(f)) if (typeof f[k] === "string") out[k] = f[k];
    return out;
  };
  function safeURL(s) {
    if (typeof s !== "string" || !s) return null;
    let u;
    try { u = new URL(s); } catch (_) { return null; }
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  }
  const unavailable = () => h("div", { class: "media-missing" }, t("media.unavailable"));
  // subjectEl shows a customer's mail subject (decoded by the connector)
  // above the text.
  function subjectEl(m) {
    const f = fieldsOf(m);
    return m.direction === "in" && f.subject ? h("div", { class: "message-subject" }, f.subject) : null;
  }

  // msgContent is what goes in a message's bubble, by kind.
  function msgContent(m) {
    const f = fieldsOf(m);
    const atts = (Array.isArray(m.attachments) ? m.attachments : []).filter((a) => a && typeof a === "object");
    const first = atts[0] || null;
    let out, used = null;
    switch (m.kind) {
      case "image":
        used = first;
        out = [used ? mediaBox("image", used) : unavailable()];
        break;
      case "voice": {
        used = first;
        out = [];
        if (f.recognition) {
          out.push(h("div", { class: "message-text voice-text" },
            h("span", { class: "voice-label" }, t("media.recognition")), f.recognition));
        }
        const format = (f.format || (used && String(used.name || "").split(".").pop()) || "amr").toUpperCase();
        out.push(used ? mediaBox("voice", used, format) : unavailable());
        break;
      }
      case "video":
        used = first;
        out = [used ? mediaBox("video", used) : unavailable()];
        break;
      case "location":
        out = [locationEl(m, f)];
        break;
      case "link":
        out = [linkEl(m, f)];
        break;
      case "form":
        out = [formEl(f), h("div", { class: "message-text" }, msgBody(m))];
        break;
      default:
        out = [h("div", { class: "message-text" }, msgBody(m))];
    }
    // Further attachments: pictures (an agent's reply may carry several,
    // with or without text) as pictures, anything else as a download.
    for (const a of atts) if (a !== used) out.push(mediaBox(isImage(a.content_type) ? "image" : "file", a));
    return out;
  }

  // formEl: a self-service report's asset (from its QR code), the answers
  // to the code's own questions and the contacts the customer typed (not
  // checked: an agent links them to a customer on purpose), as a table.
  function formEl(f) {
    const rows = [];
    const row = (label, value) => { if (value) rows.push(h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, value))); };
    row(t("form.asset"), f.asset_name);
    row(t("form.serial"), f.asset_serial);
    row(t("form.category"), f.asset_category);
    row(t("form.site"), [f.asset_site, f.asset_address].filter(Boolean).join(" · "));
    for (const k of Object.keys(f).sort()) if (k.startsWith("field.")) row(k.slice(6), f[k]);
    row(t("form.phone"), f.contact_phone);
    row(t("form.email"), f.contact_email);
    return rows.length ? h("table", { class: "form-fields" }, h("tbody", {}, ...rows)) : null;
  }

  // A customer's event (followed the account, scanned a code, opened the
  // chat) is a centred line, like the system ones; its keys are the tooltip.
  function eventEl(m) {
    const f = fieldsOf(m);
    const details = ["event", "event_key", "scene", "source", "session_from", "url"]
      .filter((k) => f[k]).map((k) => k + ": " + f[k]).join("\n");
    const text = m.text || (f.event ? t("sys.event", { event: f.event }) : t("sys.eventPlain"));
    return h("div", { class: "message message-system message-event", data: { id: m.id, kind: "event" }, title: details || null },
      h("span", { class: "message-text" }, text), " · ", timeEl("message-time", m.created_at));
  }

  // locationEl: the place's label, its coordinates and WeChat's zoom, and
  // a geo: link (RFC 5870; the device's own map application, no web host).
  function locationEl(m, f) {
    const lat = Number.parseFloat(f.latitude), lon = Number.parseFloat(f.longitude);
    const ok = Number.isFinite(lat) && Number.isFinite(lon) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180;
    // The connector's text is "label (lat, lon)".
    let label = String(m.text || "");
    const tail = "(" + (f.latitude || "") + ", " + (f.longitude || "") + ")";
    if (f.latitude && label.endsWith(tail)) label = label.slice(0, -tail.length).trim();
    return h("div", { class: "loc" },
      h("div", { class: "message-text loc-label" }, label || t("kind.location")),
      f.latitude || f.longitude
        ? h("div", { class: "loc-coords" }, (f.latitude || "?") + ", " + (f.longitude || "?"),
          f.scale ? " · " + t("loc.scale", { scale: f.scale }) : null)
        : null,
      ok ? h("a", { class: "loc-map", href: "geo:" + lat + "," + lon }, t("loc.map")) : null);
  }

  // linkEl: a shared article (title, description, URL) or a mini-program
  // page card (title, page path, AppID).
  function linkEl(m, f) {
    const mini = f.msg_type === "miniprogrampage" || !!f.pagepath || !!f.appid;
    const kids = [];
    if (mini) kids.push(h("div", { class: "card-kind" }, t("link.miniprogram")));
    if (f.title) kids.push(h("div", { class: "card-title" }, f.title));
    if (f.description) kids.push(h("div", { class: "card-desc" }, f.description));
    if (mini) {
      if (f.pagepath) kids.push(h("div", { class: "card-path" }, h("span", { class: "card-key" }, t("link.page")), " ", h("code", null, f.pagepath)));
      if (f.appid) kids.push(h("div", { class: "card-path" }, h("span", { class: "card-key" }, t("link.app")), " ", h("code", null, f.appid)));
    } else if (f.url) {
      const href = safeURL(f.url);
      kids.push(href
        ? h("a", { class: "card-url", href, target: "_blank", rel: "noopener noreferrer nofollow" }, f.url)
        : h("div", { class: "card-url" }, f.url));
    }
    if (!f.title && !f.url && !f.pagepath) kids.push(h("div", { class: "message-text" }, msgBody(m)));
    return h("div", { class: "card" + (mini ? " card-mini" : "") }, ...kids);
  }

  // ---------- media: files in the blob store (WeChat images, voice, video)
  // GET /blobs/{ref} wants the Authorization header, which <img src> cannot
  // send: each file is fetched once per open thread and shown from a blob:
  // URL, or from a data: URL where the page's Content-Security-Policy does
  // not allow blob: images. Leaving the thread revokes the URLs. Right after
  // a message arrives its file may still be on its way from WeChat: a 404 is
  // retried a few times before the file counts as unavailable.
  const BLOB_REF = /^[0-9a-f]{32}$/;
  const MEDIA_RETRY = [500, 1000, 2000, 4000, 8000, 15000]; // ms before each retry: 30 s in all

  // mediaPolicy reads the page's policy (the server sends the same header
  // with every file of the page) and answers what media may load from.
  let cspP = null;
  function mediaPolicy() {
    if (!cspP) {
      cspP = (async () => {
        let csp = "";
        try {
          const r = await fetch("/inbox/favicon.svg", { cache: "no-store" });
          csp = r.headers.get("Content-Security-Policy") || "";
        } catch (_) { cspP = null; } // unknown: try blob:, fall back on errors
        const pol = {
          imgBlob: cspAllows(csp, "img-src", ["blob:"]),
          imgData: cspAllows(csp, "img-src", ["data:"]),
          imgHttps: cspAllows(csp, "img-src", ["https:", "*"]),
          mediaBlob: cspAllows(csp, "media-src", ["blob:"]),
        };
        S.csp = pol;
        return pol;
      })();
    }
    return cspP;
  }
  // cspAllows: whether each policy of csp (several headers come joined by
  // ",") lets directive (or default-src in its absence) load URLs of a
  // scheme: one of the sources must be listed. Neither 'self' nor * covers
  // blob: and data:, only the scheme itself.
  function cspAllows(csp, directive, sources) {
    for (const policy of String(csp).split(",")) {
      const dirs = new Map();
      for (const part of policy.split(";")) {
        const w = part.trim().toLowerCase().split(/\s+/).filter(Boolean);
        if (w.length && !dirs.has(w[0])) dirs.set(w[0], w.slice(1));
      }
      const src = dirs.get(directive) || dirs.get("default-src");
      if (src && !sources.some((x) => src.includes(x))) return false;
    }
    return true;
  }

  function mediaEntry(ref) {
    let e = S.media.get(ref);
    if (!e) {
      e = {
        ref, state: "loading", tries: 0, timer: 0, blob: null, policy: null,
        url: "", dlUrl: "", dataP: null, dataUrl: "", useData: false, noPlayer: false,
      };
      S.media.set(ref, e);
      loadMedia(e, S.mediaGen);
    }
    return e;
  }

  async function loadMedia(e, gen) {
    let res = null;
    try {
      res = await fetch(API + "/blobs/" + enc(e.ref), {
        headers: { Authorization: "Bearer " + S.token },
        cache: e.tries ? "no-cache" : "default",
      });
    } catch (_) { res = null; }
    if (gen !== S.mediaGen) return;
    if (res && res.status === 401) { sessionExpired(); return; }
    if (res && res.ok) {
      try {
        const blob = await res.blob();
        const policy = await mediaPolicy();
        if (gen !== S.mediaGen) return;
        e.blob = blob;
        e.policy = policy;
        e.useData = !policy.imgBlob;
        setMedia(e, "ready");
      } catch (_) {
        if (gen === S.mediaGen) setMedia(e, "missing");
      }
      return;
    }
    const again = !res || res.status === 404 || res.status >= 500;
    if (again && e.tries < MEDIA_RETRY.length) {
      e.timer = setTimeout(() => {
        e.timer = 0;
        if (gen === S.mediaGen) loadMedia(e, gen);
      }, MEDIA_RETRY[e.tries++]);
      return;
    }
    setMedia(e, "missing");
  }

  function setMedia(e, state) {
    e.state = state;
    for (const box of $("thread").querySelectorAll(".media")) if (box.dataset.ref === e.ref) fillMedia(box);
  }

  // dropMedia forgets the open thread's files: pending retries stop and
  // the object URLs are revoked.
  function dropMedia() {
    S.mediaGen++;
    for (const e of S.media.values()) {
      clearTimeout(e.timer);
      if (e.url) URL.revokeObjectURL(e.url);
      if (e.dlUrl) URL.revokeObjectURL(e.dlUrl);
    }
    S.media = new Map();
    closeLightbox();
  }

  const objectURL = (e) => e.url || (e.url = URL.createObjectURL(e.blob));
  // The download URL is typed as bytes: the browser saves the file and
  // never renders the customer's file in the inbox's origin.
  const downloadURL = (e) => e.dlUrl || (e.dlUrl = URL.createObjectURL(new Blob([e.blob], { type: "application/octet-stream" })));
  function dataURL(e) {
    if (!e.dataP) {
      e.dataP = new Promise((resolve) => {
        const rd = new FileReader();
        rd.onload = () => resolve(typeof rd.result === "string" ? rd.result : "");
        rd.onerror = () => resolve("");
        rd.readAsDataURL(e.blob);
      });
    }
    return e.dataP;
  }
  const isImage = (type) => /^image\//i.test(type || "") && !/svg|xml/i.test(type);
  function canPlay(tag, type) {
    try { return !!type && document.createElement(tag).canPlayType(type) !== ""; } catch (_) { return false; }
  }
  function fileName(att, fallback) {
    const n = String((att && att.name) || "").replace(/[\\/\u0000-\u001f]/g, "_").trim();
    return n || fallback;
  }
  function sizeText(n) {
    if (!(n > 0)) return "";
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + " KB";
    return (n / 1048576).toFixed(1) + " MB";
  }

  // mediaBox is the place of one attachment in a message, filled by
  // fillMedia now and whenever its file's state changes.
  function mediaBox(kind, att, format) {
    const box = h("div", { class: "media media-" + kind, data: {
      ref: typeof att.ref === "string" ? att.ref : "", mkind: kind, name: fileName(att, ""),
      size: String(Number(att.size) || 0), format: format || "",
    } });
    fillMedia(box);
    return box;
  }

  function fillMedia(box) {
    const ref = box.dataset.ref, kind = box.dataset.mkind;
    if (!BLOB_REF.test(ref)) {
      box.dataset.state = "missing";
      box.replaceChildren(kind === "file" ? h("span", { class: "media-file-name" }, box.dataset.name || t("kind.file")) : null, unavailable());
      return;
    }
    const e = mediaEntry(ref);
    box.dataset.state = e.state;
    if (e.state === "loading") {
      box.replaceChildren(h("div", { class: "media-wait", role: "status" }, t("media.loading")));
      return;
    }
    if (e.state !== "ready") { box.replaceChildren(unavailable()); return; }
    const type = e.blob.type || "";
    const dl = (label, name) => h("a", { class: "media-download", href: downloadURL(e), download: name }, label);
    switch (kind) {
      case "image": {
        if (!isImage(type)) { box.replaceChildren(unavailable()); return; }
        if (e.useData && !e.dataUrl) {
          if (!e.policy.imgData) { box.replaceChildren(unavailable()); return; }
          box.replaceChildren(h("div", { class: "media-wait", role: "status" }, t("media.loading")));
          dataURL(e).then((u) => {
            if (!S.media.has(e.ref) || S.media.get(e.ref) !== e) return;
            e.dataUrl = u;
            setMedia(e, u ? "ready" : "missing");
          });
          return;
        }
        const src = e.useData ? e.dataUrl : objectURL(e);
        const img = h("img", { class: "media-img", src, alt: t("media.image"), decoding: "async" });
        img.addEventListener("error", () => {
          // Refused (a policy without blob:) or undecodable: try a data:
          // URL once, then give up.
          if (!e.useData && e.policy.imgData) { e.useData = true; setMedia(e, "ready"); }
          else setMedia(e, "broken");
        });
        img.addEventListener("load", () => {
          const th = $("thread");
          if (th.scrollHeight - th.scrollTop - th.clientHeight - img.height < 120) th.scrollTop = th.scrollHeight;
        });
        const btn = h("button", { type: "button", class: "media-thumb", title: t("media.open"), "aria-label": t("media.open") }, img);
        btn.addEventListener("click", () => openLightbox(src, downloadURL(e), fileName({ name: box.dataset.name }, "image")));
        box.replaceChildren(btn);
        return;
      }
      case "voice":
      case "video": {
        const tag = kind === "voice" ? "audio" : "video";
        const kids = [];
        if (e.policy.mediaBlob && !e.noPlayer && canPlay(tag, type)) {
          const el = h(tag, { class: "player player-" + tag, controls: "", preload: "metadata", src: objectURL(e) });
          el.addEventListener("error", () => { e.noPlayer = true; setMedia(e, "ready"); });
          kids.push(el);
        } else {
          kids.push(h("div", { class: "media-note" }, t(kind === "voice" ? "media.noVoicePlayer" : "media.noVideoPlayer")));
        }
        const label = kind === "voice" ? t("media.downloadVoice", { format: box.dataset.format || "AMR" }) : t("media.downloadVideo");
        kids.push(dl(label, fileName({ name: box.dataset.name }, kind === "voice" ? "voice." + (box.dataset.format || "amr").toLowerCase() : "video.mp4")));
        box.replaceChildren(...kids);
        return;
      }
      default: {
        const name = fileName({ name: box.dataset.name }, "file");
        const size = sizeText(Number(box.dataset.size) || e.blob.size);
        box.replaceChildren(dl(t("media.downloadName", { name }), name), size ? h("span", { class: "media-size" }, size) : null);
      }
    }
  }

  // The image viewer: the picture at full size in a modal dialog, closed by
  // Esc, a click, or its button. (A new tab would render the customer's
  // file in the inbox's origin.)
  function openLightbox(src, dl, name) {
    let d = $("lightbox");
    if (!d) {
      d = h("dialog", { id: "lightbox", class: "lightbox" });
      d.addEventListener("click", (ev) => { if (!ev.target.closest("a")) d.close(); });
      d.addEventListener("close", () => d.replaceChildren());
      document.body.append(d);
    }
    d.setAttribute("aria-label", t("media.viewer"));
    d.replaceChildren(
      h("img", { class: "lightbox-img", src, alt: t("media.image") }),
      h("div", { class: "lightbox-bar" },
        h("a", { class: "btn btn-sm", href: dl, download: name }, t("media.download")),
        h("button", { type: "button", class: "btn btn-sm lightbox-close" }, t("media.close"))));
    d.showModal();
  }
  function closeLightbox() {
    const d = $("lightbox");
    if (d && d.open) d.close();
  }

  function renderThread() {
    const box = $("thread");
    S.msgEls = new Map();
    if (!S.openId) { box.replaceChildren(); return; }
    if (!S.msgs.length) {
      box.replaceChildren(h("div", { class: "thread-empty" }, t(S.threadLoading ? "thread.loading" : "thread.empty")));
      return;
    }
    const els = S.msgs.map((m) => {
      const el = msgEl(m);
      S.msgEls.set(m.id, el);
      return el;
    });
    box.replaceChildren(...els);
    box.scrollTop = box.scrollHeight;
  }

  const rank = (d) => (!d ? -1 : d.status === "queued" ? 0 : 1);
  function newerDelivery(a, b) {
    if (!a) return false;
    if (!b) return true;
    const ta = Date.parse(a.updated_at), tb = Date.parse(b.updated_at);
    if (!isNaN(ta) && !isNaN(tb) && ta !== tb) return ta > tb;
    return rank(a) >= rank(b);
  }

  // Adds or updates one message of the open thread.
  function addMessage(cid, m) {
    if (!m || !m.id || cid !== S.openId) return;
    const box = $("thread");
    const have = S.msgById.get(m.id);
    if (have) {
      const keep = have.delivery;
      Object.assign(have, m);
      if (!newerDelivery(m.delivery, keep)) have.delivery = keep;
      const el = S.msgEls.get(m.id);
      if (el) {
        const nel = msgEl(have);
        el.replaceWith(nel);
        S.msgEls.set(m.id, nel);
      }
      return;
    }
    const pd = S.pendingDelivery.get(m.id);
    if (pd) {
      if (newerDelivery(pd, m.delivery)) m.delivery = pd;
      S.pendingDelivery.delete(m.id);
    }
    // Usually the newest; a line fetched late (a system message) goes
    // where its time puts it.
    const at = Date.parse(m.created_at);
    let pos = S.msgs.length;
    if (!isNaN(at)) while (pos > 0 && Date.parse(S.msgs[pos - 1].created_at) > at) pos--;
    const next = S.msgs[pos];
    S.msgs.splice(pos, 0, m);
    S.msgById.set(m.id, m);
    if (S.threadLoading) return;
    const near = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
    if (S.msgs.length === 1) { renderThread(); return; }
    const el = msgEl(m);
    S.msgEls.set(m.id, el);
    const before = next && S.msgEls.get(next.id);
    if (before) box.insertBefore(el, before);
    else box.append(el);
    if (near || m.direction === "out" || m.direction === "note") box.scrollTop = box.scrollHeight;
  }

  // catchUpThread fetches the messages of the open thread after the last
  // one that has a cursor (those from the socket have none) and adds the
  // ones not shown yet. Calls while one runs make it run once more.
  function catchUpThread() {
    if (!S.openId) return;
    if (S.catchUp) { S.catchUpAgain = true; return; }
    const id = S.openId, seq = S.threadSeq;
    S.catchUpAgain = false;
    S.catchUp = (async () => {
      if (S.threadLoading) { S.catchUpAfterLoad = true; return; } // after the full load
      let after = "";
      for (let i = S.msgs.length - 1; i >= 0; i--) if (S.msgs[i].cursor) { after = S.msgs[i].cursor; break; }
      const q = new URLSearchParams({ limit: "500" });
      if (after) q.set("after", after);
      try {
        const r = await api("GET", "/conversations/" + enc(id) + "/messages?" + q.toString());
        if (seq !== S.threadSeq || id !== S.openId) return;
        for (const m of (r && Array.isArray(r.items) ? r.items : [])) {
          if (!m || !m.id) continue;
          const have = S.msgById.get(m.id);
          if (have) { if (!have.cursor && m.cursor) have.cursor = m.cursor; continue; }
          addMessage(id, m);
        }
      } catch (e) {
        if (e.status !== 404 && e.status !== 403) showError(e);
      }
    })().finally(() => {
      S.catchUp = null;
      if (S.catchUpAgain && S.openId === id && S.threadSeq === seq) catchUpThread();
    });
  }

  // refreshSystemTexts re-words the system lines in place (agent names
  // may arrive after the thread).
  function refreshSystemTexts() {
    for (const m of S.msgs) {
      if (m.direction !== "system") continue;
      const el = S.msgEls.get(m.id);
      const tx = el && el.querySelector(".message-text");
      if (tx) {
        const s = msgBody(m);
        if (tx.textContent !== s) tx.textContent = s;
      }
      if (el && m.author) el.title = t("sys.by", { name: actorName(m.author) });
    }
  }

  function setDelivery(id, d) {
    const m = S.msgById.get(id);
    if (!m) {
      if (S.pendingDelivery.size > 500) S.pendingDelivery.clear();
      S.pendingDelivery.set(id, d);
      return;
    }
    if (!newerDelivery(d, m.delivery)) return;
    m.delivery = d;
    const el = S.msgEls.get(id);
    if (el) {
      const nel = msgEl(m);
      el.replaceWith(nel);
      S.msgEls.set(id, nel);
    }
  }

  // ---------- header, transfer, status
  function renderHeader(force) {
    const c = S.open;
    $("thread-empty").hidden = !!S.openId;
    $("thread-header").hidden = !c;
    if (!c) return;
    $("th-customer").textContent = c.customer_name || c.customer_id || "—";
    const ch = $("th-channel");
    ch.className = "badge ch-" + token(c.channel);
    ch.dataset.channel = token(c.channel);
    ch.title = t("channel.title", { name: channelLabel(c.channel) });
    ch.textContent = channelLabel(c.channel);
    const tk = $("th-ticket");
    tk.hidden = !c.ticket_id;
    tk.textContent = c.ticket_id ? "#" + c.ticket_id : "";
    $("th-assignee").textContent = c.assignee ? t("thread.assignedTo", { name: agentName(c.assignee) }) : t("thread.unassigned");
    $("take-button").hidden = !!c.assignee;

    const st = $("status-select");
    if (![...st.options].some((o) => o.value === c.status) && c.status) {
      st.append(h("option", { value: c.status, disabled: true }, statusLabel(c.status)));
    }
    st.value = c.status || "";

    const ag = $("transfer-agent");
    const agentOpts = [];
    const seen = new Set();
    for (const a of S.agents) {
      if (!a || !a.id || seen.has(a.id)) continue;
      seen.add(a.id);
      const p = a.presence || {};
      const ps = p.status || "offline";
      let label = (a.name || a.email || a.id) + " · " + tOr("presence." + ps, ps);
      if (p.capacity != null) label += " " + t("ctl.load", { load: p.load || 0, capacity: p.capacity });
      agentOpts.push({ value: a.id, label, presence: token(ps) });
    }
    if (c.assignee && !seen.has(c.assignee)) agentOpts.push({ value: c.assignee, label: agentName(c.assignee), presence: "" });
    if (force || document.activeElement !== ag) {
      const opts = [h("option", { value: "", disabled: true }, t("ctl.noAgent"))];
      for (const o of agentOpts) opts.push(h("option", { value: o.value, data: { presence: o.presence } }, o.label));
      ag.replaceChildren(...opts);
      ag.value = c.assignee || "";
    } else {
      // The picker is open: refresh the labels in place, leaving the
      // options and the choice alone.
      const byValue = new Map(agentOpts.map((o) => [o.value, o]));
      for (const opt of ag.options) {
        const o = byValue.get(opt.value);
        if (!o) continue;
        if (opt.textContent !== o.label) opt.textContent = o.label;
        opt.dataset.presence = o.presence;
      }
    }

    const tm = $("transfer-team");
    if (force || document.activeElement !== tm) {
      const opts = [h("option", { value: "", disabled: true }, t("ctl.noTeam"))];
      for (const x of S.teams) if (x && x.id) opts.push(h("option", { value: x.id }, x.name || x.id));
      if (c.team && !S.teams.some((x) => x.id === c.team)) opts.push(h("option", { value: c.team }, c.team));
      tm.replaceChildren(...opts);
      tm.value = c.team || "";
    }
    renderComposer(); // the reply window may have moved
  }

  async function patchOpen(body, ctl) {
    const id = S.openId;
    if (!id) return;
    if (ctl) ctl.disabled = true;
    try {
      const c = await api("PATCH", "/conversations/" + enc(id), body);
      if (c && c.id) upsertConv(c);
      if ("assignee" in body && S.openId === id) catchUpThread();
      agentsSoon();
    } catch (e) {
      showError(e);
    } finally {
      if (ctl) ctl.disabled = false;
      renderHeader(true);
    }
  }

  // ---------- reply window
  // Some channels take replies only for a while after the customer's last
  // message (WeChat: 48 hours); the API then sends the end as reply_until.

  // replyWindow is the end of conversation c's reply window and the time
  // left, or null when its channel has none.
  function replyWindow(c) {
    const until = c && typeof c.reply_until === "string" ? Date.parse(c.reply_until) : NaN;
    if (isNaN(until)) return null;
    let left = until - Date.now();
    // The server refused a reply (this clock may be behind its clock):
    // closed until the window moves.
    const rf = S.windowRefused;
    if (rf && rf.id === c.id && rf.until === c.reply_until) left = Math.min(left, 0);
    return { until, left };
  }
  const replyClosed = (c) => { const w = replyWindow(c); return !!w && w.left <= 0; };

  // moveReplyWindow records a later end of a conversation's window (the
  // customer wrote again); an older one, from a replayed event, is ignored.
  function moveReplyWindow(cid, ru) {
    const at = Date.parse(ru);
    if (isNaN(at)) return;
    const later = (c) => c && !(Date.parse(c.reply_until) >= at);
    const c = S.byId.get(cid);
    if (later(c)) c.reply_until = ru;
    if (S.open && S.open.id === cid && later(S.open)) {
      S.open.reply_until = ru;
      renderComposer();
    }
  }

  // renderWindow shows the open conversation's time left to reply, as a
  // warning under 2 hours, and the reason once it has passed; it answers
  // whether it has. It runs again when the minute shown changes.
  function renderWindow() {
    clearTimeout(S.windowTimer);
    S.windowTimer = 0;
    const el = $("reply-window");
    const c = S.open && S.open.id === S.openId ? S.open : null;
    const w = replyWindow(c);
    el.hidden = !w;
    if (!w) {
      el.textContent = "";
      el.removeAttribute("title");
      delete el.dataset.state;
      return false;
    }
    el.title = t("window.until", { time: full(c.reply_until) });
    if (w.left <= 0) {
      el.dataset.state = "closed";
      el.textContent = t("window.closed");
      return true;
    }
    el.dataset.state = w.left < 2 * 3600000 ? "warn" : "open";
    el.textContent = t("window.left", { d: dur(w.left) });
    S.windowTimer = setTimeout(() => { S.windowTimer = 0; renderComposer(); }, (w.left % 60000 || 60000) + 50);
    return false;
  }

  // ---------- composer
  function renderComposer() {
    const form = $("composer");
    form.hidden = !S.openId;
    const closed = renderWindow();
    // A closed window stops replies, not notes.
    const blocked = closed && !S.noteMode;
    form.classList.toggle("note-mode", S.noteMode);
    form.classList.toggle("window-closed", closed);
    const tg = $("reply-note-toggle");
    tg.setAttribute("aria-pressed", S.noteMode ? "true" : "false");
    const ta = $("reply-text");
    ta.placeholder = t(S.noteMode ? "composer.notePh" : "composer.reply");
    ta.readOnly = S.sending || blocked;
    const attach = $("reply-attach");
    attach.hidden = !canAttach();
    attach.disabled = S.sending || blocked || S.atts.length >= ATT_MAX;
    attach.title = t("composer.attachTitle", { n: ATT_MAX });
    const uploading = S.atts.some((a) => a.status === "uploading");
    const send = $("reply-send");
    send.disabled = S.sending || blocked || uploading;
    send.textContent = t(S.sending ? "composer.sending" : uploading ? "composer.uploading" : S.noteMode ? "composer.addNote" : "composer.send");
  }

  // ---------- images sent with a reply
  // On channels that carry them (the conversation's can_attach), the agent
  // picks or pastes images; each is uploaded at once (POST /blobs) and
  // shown as a chip with its thumbnail, and the reply names the uploaded
  // ones by ref. Leaving the conversation drops the chips.
  const ATT_TYPES = ["image/jpeg", "image/png", "image/gif"];
  const ATT_MAX = 9;
  const ATT_BYTES = 10 * 1048576;
  const canAttach = () => !!(S.open && S.open.id === S.openId && S.open.can_attach === true);

  function addFiles(files) {
    if (!S.openId || !canAttach()) return;
    for (const f of files) {
      if (!f) continue;
      if (S.atts.length >= ATT_MAX) { showError(() => t("att.tooMany", { n: ATT_MAX })); break; }
      if (!ATT_TYPES.includes(f.type)) { showError(() => t("att.badType", { name: f.name || "" })); continue; }
      if (f.size > ATT_BYTES) { showError(() => t("att.tooBig", { name: f.name || "", mb: ATT_BYTES / 1048576 })); continue; }
      if (f.size === 0) { showError(() => t("att.empty", { name: f.name || "" })); continue; }
      const a = { key: ++S.attSeq, name: String(f.name || ""), size: f.size, status: "uploading", id: "", error: "", url: "" };
      S.atts.push(a);
      attThumb(a, f, S.attGen);
      uploadAtt(a, f, S.attGen);
    }
    renderAtts();
    renderComposer();
  }

  // attThumb shows the agent's own file as the chip's thumbnail, from a
  // blob: URL, or a data: URL where the page's policy allows no blob:.
  async function attThumb(a, f, gen) {
    const pol = await mediaPolicy();
    if (gen !== S.attGen || !S.atts.includes(a)) return;
    if (pol.imgBlob) a.url = URL.createObjectURL(f);
    else if (pol.imgData) {
      a.url = await new Promise((resolve) => {
        const rd = new FileReader();
        rd.onload = () => resolve(typeof rd.result === "string" ? rd.result : "");
        rd.onerror = () => resolve("");
        rd.readAsDataURL(f);
      });
      if (gen !== S.attGen || !S.atts.includes(a)) return;
    }
    renderAtts();
  }

  async function uploadAtt(a, f, gen) {
    const live = () => gen === S.attGen && S.atts.includes(a);
    let res = null, data = null;
    try {
      res = await fetch(API + "/blobs", {
        method: "POST", cache: "no-store", body: f,
        headers: { Accept: "application/json", Authorization: "Bearer " + S.token, "Content-Type": f.type, "X-Filename": enc(a.name) },
      });
      if (res.status !== 204) data = await res.json().catch(() => null);
    } catch (_) { res = null; }
    if (!live()) return;
    if (res && res.status === 401) { sessionExpired(); return; }
    if (res && res.status === 201 && data && typeof data.id === "string" && BLOB_REF.test(data.id)) {
      a.status = "ready";
      a.id = data.id;
    } else {
      const er = (data && data.error) || {};
      a.status = "failed";
      a.error = errorText(res ? new ApiError(res.status, er.code || "", er.message || "") : new ApiError(0, "network", ""));
    }
    renderAtts();
    renderComposer();
  }

  function dropAtt(a) {
    if (a.url && a.url.startsWith("blob:")) URL.revokeObjectURL(a.url);
    S.atts = S.atts.filter((x) => x !== a);
  }
  function clearAtts() {
    for (const a of S.atts) if (a.url && a.url.startsWith("blob:")) URL.revokeObjectURL(a.url);
    S.atts = [];
    S.attGen++;
    renderAtts();
  }

  function renderAtts() {
    const box = $("reply-attachments");
    box.hidden = !S.atts.length;
    box.replaceChildren(...S.atts.map((a) => {
      const name = fileName(a, t("media.image"));
      const state = a.status === "uploading" ? t("att.uploading") : a.status === "failed" ? a.error || t("att.failed") : sizeText(a.size);
      return h("div", { class: "att-chip", data: { state: a.status, key: String(a.key), ref: a.id }, title: name },
        a.url ? h("img", { class: "att-thumb", src: a.url, alt: name }) : h("span", { class: "att-thumb", "aria-hidden": "true" }),
        h("span", { class: "att-text" }, h("span", { class: "att-name" }, name), h("span", { class: "att-state" }, state)),
        h("button", { type: "button", class: "att-remove", data: { key: String(a.key) }, title: t("att.remove"), "aria-label": t("att.removeName", { name }) }, "×"));
    }));
  }

  function toggleNote() {
    if (!S.openId) return;
    S.noteMode = !S.noteMode;
    renderComposer();
  }

  function uuid() {
    if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
    return x.slice(0, 8) + "-" + x.slice(8, 12) + "-" + x.slice(12, 16) + "-" + x.slice(16, 20) + "-" + x.slice(20);
  }

  async function send() {
    if (S.sending || !S.openId) return;
    const ta = $("reply-text");
    const text = ta.value;
    if (S.atts.some((a) => a.status === "uploading")) return;
    if (S.atts.some((a) => a.status === "failed")) { showError(() => t("att.dropFailed")); return; }
    const atts = S.atts.slice();
    if (!text.trim() && !atts.length) { ta.focus(); return; }
    const cid = S.openId;
    const internal = S.noteMode;
    if (!internal && replyClosed(S.open)) { renderComposer(); return; }
    // A retry of the very same send (after a network or server error)
    // reuses its key, so it counts once; any other send gets a fresh key.
    const refs = atts.map((a) => a.id);
    const sig = cid + "\u0000" + internal + "\u0000" + text + "\u0000" + refs.join(",");
    if (S.draftSig !== sig) { S.draftSig = sig; S.draftKey = uuid(); }
    S.sending = true;
    renderComposer();
    try {
      const body = { text, internal, idempotency_key: S.draftKey };
      if (refs.length) body.attachments = refs.map((ref) => ({ ref }));
      const m = await api("POST", "/conversations/" + enc(cid) + "/messages", body);
      S.draftKey = S.draftSig = null;
      if (ta.value === text && S.openId === cid) ta.value = "";
      if (S.openId === cid) {
        for (const a of atts) dropAtt(a);
        renderAtts();
      }
      if (m && m.id) {
        if (!m.direction) m.direction = internal ? "note" : "out";
        if (!m.conversation_id) m.conversation_id = cid;
        S.seen.add(m.id);
        addMessage(cid, m);
        bumpFromMessage(cid, m, false);
      }
    } catch (e) {
      if (e.status !== 0 && e.status < 500) S.draftKey = S.draftSig = null;
      if (e.code === "reply_window_closed" && S.open && S.open.id === cid) {
        // The server's clock decides: show the window closed, and fetch
        // the conversation in case a customer message moved it.
        S.windowRefused = { id: cid, until: S.open.reply_until };
        fetchConv(cid);
      }
      showError(e);
    } finally {
      S.sending = false;
      renderComposer();
    }
  }

  // ---------- customer panel
  async function loadCustomer(id) {
    const seq = ++S.customerSeq;
    S.customer = null;
    S.customerLoading = !!id;
    renderCustomer();
    if (!id) return;
    try {
      const c = await api("GET", "/customers/" + enc(id));
      if (seq !== S.customerSeq) return;
      S.customer = c;
    } catch (e) {
      if (seq === S.customerSeq) showError(e);
    } finally {
      if (seq === S.customerSeq) { S.customerLoading = false; renderCustomer(); }
    }
  }

  // refreshCustomer fetches the shown customer again, keeping the panel
  // as it is until the answer is in.
  async function refreshCustomer(id) {
    const seq = ++S.customerSeq;
    try {
      const c = await api("GET", "/customers/" + enc(id));
      if (seq !== S.customerSeq || !c || !c.id) return;
      S.customer = c;
      renderCustomer();
      if (S.cm.for === c.id) loadAudit(c.id);
    } catch (_) { /* the panel keeps what it shows */ }
  }

  async function showTicket(id, quiet) {
    if (!id) return;
    if (!quiet) document.body.classList.add("show-customer");
    const seq = ++S.ticketSeq;
    try {
      const tk = await api("GET", "/tickets/" + enc(id));
      if (seq !== S.ticketSeq) return;
      S.ticket = tk;
      renderCustomer();
    } catch (e) { if (!quiet && seq === S.ticketSeq) showError(e); }
  }
  // ticketSoon refetches the shown ticket after a change of its
  // conversation (status, assignee, a first reply), once per burst.
  function ticketSoon(cid) {
    const tk = S.ticket;
    if (!tk || S.ticketTimer || (cid && tk.conversation_id && tk.conversation_id !== cid)) return;
    S.ticketTimer = setTimeout(() => {
      S.ticketTimer = 0;
      if (S.ticket && S.token) showTicket(S.ticket.id || S.ticket.number, true);
    }, 800);
  }

  function ticketLink(id, label) {
    const a = h("a", { href: "#", class: "ticket-link", data: { ticket: id } }, label);
    return a;
  }

  function section(title, items, emptyKey) {
    return h("section", { class: "cp-section" },
      h("h3", null, title),
      items.length ? h("ul", { class: "cp-list" }, ...items) : h("p", { class: "muted" }, t(emptyKey)));
  }

  function histVal(field, v) {
    if (!v) return field === "assignee" ? t("thread.unassigned") : "∅";
    if (field === "status") return statusLabel(v);
    if (field === "priority") return tOr("priority." + v, v);
    if (field === "assignee") return agentName(v);
    if (field === "team") return teamName(v);
    return String(v);
  }

  // histSpecial words the history entries of service levels, surveys and
  // the FAQ bot (they say who by themselves); null for any other field.
  function histSpecial(x) {
    const to = String(x.to == null ? "" : x.to);
    switch (x.field) {
      case "sla": {
        // warning:first_response:80, breached:resolution, met:…, stopped:…
        const [what, target, pct] = to.split(":");
        const label = slaTargetLabel(target);
        if (what === "warning") return pct ? t("hist.slaWarningPct", { target: label, pct }) : t("hist.slaWarning", { target: label });
        if (what === "breached" || what === "met" || what === "stopped") return t("hist.sla." + what, { target: label });
        return t("hist.slaOther", { value: to });
      }
      case "csat":
      case "nps":
        return t("hist." + x.field, { score: to });
      case "survey": {
        const [what, kind] = to.split(":");
        if (what === "asked") return t("hist.surveyAsked", { kind: String(kind || "csat").toUpperCase() });
        return t("hist.surveyOther", { value: to });
      }
      case "survey_comment":
        return t("hist.surveyComment", { text: to });
      case "bot":
        return tOr("hist.bot." + to, "") || t("hist.botOther", { value: to });
      default:
        return null;
    }
  }

  // satisfaction is the ticket's latest survey score ("5 / 5 (CSAT)"),
  // from its history; "" for none.
  function satisfaction(tk) {
    const hist = Array.isArray(tk.history) ? tk.history : [];
    for (let i = hist.length - 1; i >= 0; i--) {
      const x = hist[i];
      if (x && (x.field === "csat" || x.field === "nps") && x.to != null && x.to !== "") {
        return t("sat." + x.field, { score: String(x.to) });
      }
    }
    return "";
  }

  function renderTicket(tk) {
    const rows = [
      ["ticket.subject", tk.subject],
      ["ctl.status", statusLabel(tk.status)],
      ["ticket.priority", tOr("priority." + tk.priority, tk.priority)],
      ["ticket.satisfaction", satisfaction(tk)],
      ["ticket.team", teamName(tk.team)],
      ["ticket.assignee", agentName(tk.assignee)],
      ["ticket.updated", full(tk.updated_at)],
    ];
    const histLine = (x) => {
      const actor = actorName(x.actor) || "—";
      if (x.field === "created") return t("ticket.created", { actor });
      if (x.field === "ticket") return t("ticket.numbered", { actor, number: x.to || "" });
      const special = histSpecial(x);
      if (special !== null) return special;
      return t("ticket.change", { actor, field: tOr("field." + x.field, x.field), from: histVal(x.field, x.from), to: histVal(x.field, x.to) });
    };
    const hist = (Array.isArray(tk.history) ? tk.history : []).slice(-8).reverse().map((x) =>
      h("li", { class: "hist", data: { field: token(x.field) } }, timeEl("hist-time", x.at), " ", histLine(x)));
    return h("section", { class: "cp-ticket" },
      h("div", { class: "cp-ticket-head" },
        h("h3", null, t("ticket.title", { number: tk.number || tk.id })),
        h("button", { type: "button", class: "btn-link", id: "ticket-close" }, t("ticket.close"))),
      slaBox(tk),
      h("dl", { class: "kv" }, ...rows.filter((r) => r[1]).flatMap((r) => [h("dt", null, t(r[0])), h("dd", { data: { key: r[0] } }, String(r[1]))])),
      hist.length ? h("h4", null, t("ticket.history")) : null,
      hist.length ? h("ul", { class: "cp-list" }, ...hist) : null);
  }

  // dur words a length of time: "10 分钟" / "10 min", "2 h 5 min", "3 d 4 h".
  function dur(ms) {
    const m = Math.floor(Math.abs(ms) / 60000);
    if (m < 1) return t("dur.lt1");
    if (m < 60) return t("dur.min", { m });
    const hh = Math.floor(m / 60), mm = m % 60;
    if (hh < 24) return mm ? t("dur.hm", { h: hh, m: mm }) : t("dur.h", { h: hh });
    const d = Math.floor(hh / 24), rh = hh % 24;
    return rh ? t("dur.dh", { d, h: rh }) : t("dur.d", { d });
  }

  // slaLine is one SLA target of a ticket without a policy view (only
  // first_response_due and resolve_due): met (when, and whether late), or
  // due in / overdue by, relative to now.
  function slaLine(kind, dueTs, doneTs, stopped) {
    const due = Date.parse(dueTs), done = Date.parse(doneTs);
    if (isNaN(due)) return null;
    const cap = kind === "first" ? "first" : "resolve";
    let text, state;
    if (!isNaN(done)) {
      const late = done > due;
      text = t("sla." + cap + (late ? "Late" : "Met"), { time: full(doneTs) });
      state = late ? "late" : "met";
    } else {
      const left = due - Date.now();
      if (left >= 0) {
        text = t("sla." + cap + "Due", { d: dur(left) });
        state = left < 10 * 60000 ? "soon" : "due";
      } else {
        text = t("sla." + cap + "Overdue", { d: dur(left) });
        state = "overdue";
      }
      // A resolved or closed ticket no longer runs against the clock.
      if (stopped) state = "stopped";
    }
    return h("li", { class: "sla-line", data: { sla: kind, state, level: state }, title: t("sla.dueAt", { time: full(dueTs) }) }, text);
  }

  const slaTargetLabel = (target) => tOr("sla.target." + target, target);

  // slaTargetLine is one target of a ticket's policy (tk.sla.targets[]):
  // its clock's state, and how far it is from its due time. data-state is
  // the API's state; data-level how it looks (running, soon, overdue, met,
  // breached, paused, stopped).
  function slaTargetLine(x) {
    const due = Date.parse(x.due), at = Date.parse(x.at);
    const secs = (n) => (Number(n) > 0 ? Number(n) * 1000 : 0);
    let text, level = token(x.state), title = null;
    switch (x.state) {
      case "running": {
        if (isNaN(due)) { text = t("sla.running"); break; }
        title = t("sla.dueAt", { time: full(x.due) });
        const left = due - Date.now();
        if (left >= 0) {
          text = t("sla.dueIn", { d: dur(left) });
          if (left < 10 * 60000) level = "soon";
        } else {
          text = t("sla.overdueBy", { d: dur(left) });
          level = "overdue";
        }
        break;
      }
      case "paused": text = t("sla.paused"); break;
      case "met": text = secs(x.spare_seconds) ? t("sla.metSpare", { d: dur(secs(x.spare_seconds)) }) : t("sla.met"); break;
      case "breached": text = secs(x.late_seconds) ? t("sla.breachedLate", { d: dur(secs(x.late_seconds)) }) : t("sla.breached"); break;
      case "stopped": text = t("sla.stopped"); break;
      default: text = String(x.state || "");
    }
    if (!title && !isNaN(at)) title = t("sla.at", { time: full(x.at) });
    return h("li", { class: "sla-line", data: { target: token(x.target), state: token(x.state), level }, title },
      h("span", { class: "sla-target" }, slaTargetLabel(x.target)), " ",
      h("span", { class: "sla-state" }, text));
  }

  // slaBox is the ticket's service level: with a policy view (tk.sla),
  // the policy and a line per target; else the due times the ticket has.
  function slaBox(tk) {
    const sla = tk.sla && typeof tk.sla === "object" && Array.isArray(tk.sla.targets) ? tk.sla : null;
    if (sla) {
      const lines = sla.targets.filter((x) => x && typeof x === "object").map(slaTargetLine);
      return h("div", { class: "sla sla-policy", id: "ticket-sla", data: { flag: token(sla.flag) || "none" } },
        h("div", { class: "sla-head" },
          h("span", { class: "sla-title" }, t("ticket.sla")),
          h("span", { class: "sla-policy-name" }, sla.policy || "")),
        lines.length ? h("ul", { class: "sla-lines", "aria-label": t("ticket.sla") }, ...lines) : null);
    }
    const stopped = tk.status === "resolved" || tk.status === "closed";
    const lines = [
      slaLine("first", tk.first_response_due, tk.first_response_at, stopped),
      slaLine("resolve", tk.resolve_due, tk.resolved_at, stopped),
    ].filter(Boolean);
    if (!lines.length) return null;
    return h("ul", { class: "sla", id: "ticket-sla", "aria-label": t("ticket.sla") }, ...lines);
  }

  // avatarEl shows the customer's picture (a WeChat https URL) only when
  // the page's policy lets images load from https: — the inbox's own policy
  // (img-src 'self' data:) does not, and then the initial stands in.
  function avatarEl(c, name) {
    const initial = h("div", { class: "avatar", "aria-hidden": "true" }, Array.from(name)[0] || "?");
    const src = typeof c.avatar === "string" && /^https:/i.test(c.avatar) ? safeURL(c.avatar) : null;
    if (!src || !S.csp || !S.csp.imgHttps) return initial;
    const img = h("img", { class: "avatar avatar-img", src, alt: "", referrerpolicy: "no-referrer" });
    img.addEventListener("error", () => img.replaceWith(initial));
    return img;
  }

  function renderCustomer() {
    const panel = $("customer-panel");
    const kids = [h("button", { type: "button", class: "banner-close cp-close", id: "customer-close", "aria-label": t("dismiss"), title: t("dismiss") }, "×")];
    if (S.ticket) kids.push(renderTicket(S.ticket));
    const c = S.customer;
    if (!c) {
      kids.push(h("p", { class: "muted cp-empty" }, t(S.customerLoading ? "customer.loading" : "customer.none")));
      panel.replaceChildren(...kids);
      return;
    }
    const name = c.name || c.id || "—";
    kids.push(h("div", { class: "cp-head" },
      avatarEl(c, name),
      h("div", null,
        h("div", { class: "cp-name" }, name),
        h("div", { class: "cp-sub" },
          c.level ? h("span", { class: "level lv-" + token(c.level) }, c.level) : null,
          c.region ? h("span", { class: "muted" }, c.region) : null))));
    kids.push(h("dl", { class: "kv" },
      h("dt", null, t("customer.level")), h("dd", null, c.level || "—"),
      h("dt", null, t("customer.region")), h("dd", null, c.region || "—"),
      h("dt", null, t("customer.since")), h("dd", null, full(c.created_at) || "—")));
    if (S.cm.for !== c.id) {
      clearTimeout(S.cm.confirmTimer);
      S.cm = newCustomerTools(c.id);
      loadAudit(c.id);
    }
    const ids = (Array.isArray(c.identities) ? c.identities : []).map((x) =>
      h("li", { class: "ident" },
        h("span", { class: "ident-type" }, x.type || ""),
        x.channel ? badge(x.channel) : null,
        h("span", { class: "ident-value", title: x.account ? x.account : null }, x.value || ""),
        !x.channel && (x.type === "phone" || x.type === "email")
          ? h("button", { type: "button", class: "btn-link cm-unlink", data: { cm: "unlink", type: x.type, value: x.value || "" },
            title: t("cm.unlinkTitle", { value: x.value || "" }), "aria-label": t("cm.unlinkTitle", { value: x.value || "" }),
            disabled: !!S.cm.busy }, t("cm.unlink"))
          : null));
    kids.push(section(t("customer.identities"), ids, "customer.noIdentities"));
    kids.push(identityForm());
    const tks = (Array.isArray(c.tickets) ? c.tickets : []).map((x) =>
      h("li", { class: "cp-ticket-row" },
        ticketLink(x.number || x.id, "#" + (x.number || x.id)),
        statusPill(x.status),
        h("span", { class: "cp-subject" }, x.subject || "")));
    kids.push(section(t("customer.tickets"), tks, "customer.noTickets"));
    const convs = (Array.isArray(c.conversations) ? c.conversations : []).slice(0, 10).map((x) =>
      h("li", null,
        h("button", { type: "button", class: "cp-conv" + (x.id === S.openId ? " current" : ""), data: { conv: x.id } },
          h("span", { class: "cp-conv-top" }, badge(x.channel), statusPill(x.status), timeEl("cp-time", x.last_message_at || x.created_at)),
          h("span", { class: "cp-conv-preview" }, x.preview || ""))));
    kids.push(section(t("customer.conversations"), convs, "customer.noConversations"));
    kids.push(mergeBox(c), auditBox(c));
    // Keep the field being typed in, and where, across the redraw.
    const a = document.activeElement;
    const keep = a && panel.contains(a) && a.dataset && a.dataset.field
      ? { field: a.dataset.field, s: a.selectionStart, e: a.selectionEnd } : null;
    panel.replaceChildren(...kids);
    if (keep) {
      const f = panel.querySelector('[data-field="' + keep.field + '"]');
      if (f) {
        f.focus();
        if (typeof keep.s === "number" && f.setSelectionRange) f.setSelectionRange(keep.s, keep.e);
      }
    }
  }

  // ---------- who a customer is: identities, merges, the audit
  // An agent adds a phone number or an e-mail address to the customer; one
  // that belongs to another customer is refused (409 identity_taken) and
  // the panel offers to merge that customer into this one — never on its
  // own. An agent finds another customer (phone, e-mail or customer id)
  // and merges it into this one; a supervisor undoes a merge from the
  // audit. Confirmations take a second click within 4 s.
  const supervises = () => !!S.me && (S.me.role === "supervisor" || S.me.role === "admin");
  const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/i;

  // findCustomer looks a customer up by what an agent typed: an e-mail
  // address, a customer id, or else a phone number. null: nobody.
  async function findCustomer(q) {
    q = String(q || "").trim();
    if (!q) return null;
    if (ULID.test(q)) {
      try { return await api("GET", "/customers/" + enc(q.toUpperCase())); } catch (e) {
        if (e.status !== 404) throw e;
      }
    }
    const r = await api("GET", "/customers?" + (q.includes("@") ? "email=" : "phone=") + enc(q));
    return r && Array.isArray(r.items) && r.items.length ? r.items[0] : null;
  }

  async function loadAudit(id) {
    const seq = ++S.cm.auditSeq;
    try {
      const r = await api("GET", "/customers/" + enc(id) + "/audit?limit=30");
      if (S.cm.for !== id || seq !== S.cm.auditSeq) return;
      S.cm.audit = Array.isArray(r && r.items) ? r.items : [];
      renderCustomer();
    } catch (_) { /* the panel shows the rest */ }
  }

  function identityForm() {
    const cm = S.cm;
    const kids = [
      h("div", { class: "cm-row" },
        h("select", { class: "cm-type", data: { field: "cm-type" }, "aria-label": t("cm.type"), disabled: !!cm.busy },
          h("option", { value: "phone", selected: cm.addType === "phone" }, t("cm.type.phone")),
          h("option", { value: "email", selected: cm.addType === "email" }, t("cm.type.email"))),
        h("input", { type: "text", class: "cm-value", data: { field: "cm-value" }, value: cm.addValue, maxlength: "254",
          placeholder: t("cm.value"), "aria-label": t("cm.value"), autocomplete: "off" }),
        h("button", { type: "submit", class: "btn btn-sm", disabled: !!cm.busy }, t("cm.add"))),
    ];
    if (cm.taken) {
      kids.push(h("p", { class: "cm-taken", role: "alert" }, t("cm.taken", { value: cm.taken.value, name: cm.taken.name || cm.taken.id })),
        h("button", { type: "button", class: "btn btn-sm", data: { cm: "merge", id: cm.taken.id }, disabled: !!cm.busy },
          cm.confirm === "merge:" + cm.taken.id ? t("cm.confirmMerge") : t("cm.mergeTaken")));
    } else if (cm.err && (cm.errAt === "add" || cm.errAt === "unlink")) {
      kids.push(h("p", { class: "cm-error", role: "alert" }, errorText(cm.err)));
    }
    return h("form", { class: "cm-add", id: "cm-add", data: { cmForm: "add" }, "aria-label": t("cm.identityAdd") },
      h("h4", null, t("cm.identityAdd")), ...kids);
  }

  function mergeBox(c) {
    const cm = S.cm;
    const kids = [
      h("p", { class: "muted cm-help" }, t("cm.mergeHelp")),
      h("div", { class: "cm-row" },
        h("input", { type: "search", class: "cm-query", data: { field: "cm-query" }, value: cm.query, maxlength: "254",
          placeholder: t("cm.findPlaceholder"), "aria-label": t("cm.findPlaceholder"), autocomplete: "off" }),
        h("button", { type: "submit", class: "btn btn-sm", disabled: !!cm.busy }, t("cm.find"))),
    ];
    const f = cm.found;
    if (f && f.id === c.id) kids.push(h("p", { class: "muted cm-found" }, t("cm.same")));
    else if (f) {
      const n = Array.isArray(f.conversations) ? f.conversations.length : 0;
      kids.push(h("div", { class: "cm-found", data: { customer: f.id } },
        h("span", { class: "cm-found-name" }, t("cm.found", { name: f.name || f.id, n })),
        h("button", { type: "button", class: "btn btn-primary btn-sm", data: { cm: "merge", id: f.id }, disabled: !!cm.busy },
          cm.busy === "merge" ? t("cm.merging") : cm.confirm === "merge:" + f.id ? t("cm.confirmMerge") : t("cm.mergeInto"))));
    } else if (cm.searched) kids.push(h("p", { class: "muted cm-found" }, t("cm.notFound")));
    if (cm.err && (cm.errAt === "find" || cm.errAt === "merge")) kids.push(h("p", { class: "cm-error", role: "alert" }, errorText(cm.err)));
    return h("section", { class: "cp-section cm-merge" },
      h("h3", null, t("cm.merge")),
      h("form", { id: "cm-find", data: { cmForm: "find" } }, ...kids));
  }

  function auditLine(e, c) {
    const who = actorName(e.who) || e.who || "—";
    const other = e.into === c.id ? e.from : e.into;
    switch (e.action) {
      case "create": return t("audit.create", { who, name: e.name || "" });
      case "link":
      case "unlink": return t("audit." + e.action, { who, type: tOr("cm.type." + e.type, e.type), value: e.value || "" });
      case "merge":
        return t(e.into === c.id ? "audit.mergeInto" : "audit.mergeFrom", { who, other: other || "", why: tOr("why." + e.why, e.why) });
      case "unmerge": return t("audit.unmerge", { who, other: other || "" });
      default: return String(e.action || "");
    }
  }

  function auditBox(c) {
    const cm = S.cm;
    const undone = new Set(cm.audit.filter((e) => e.action === "unmerge").map((e) => e.merge_id));
    const items = cm.audit.map((e) => {
      let tail = null;
      if (e.action === "merge" && e.merge_id && e.into === c.id) {
        if (undone.has(e.merge_id)) tail = h("span", { class: "muted cm-undone" }, t("cm.undone"));
        else if (supervises()) {
          tail = h("button", { type: "button", class: "btn btn-sm cm-undo", data: { cm: "undo", merge: e.merge_id }, disabled: !!cm.busy },
            cm.busy === "undo:" + e.merge_id ? t("cm.undoing") : cm.confirm === "undo:" + e.merge_id ? t("cm.confirmUndo") : t("cm.undo"));
        }
      }
      const moved = e.action === "merge" || e.action === "unmerge"
        ? h("span", { class: "muted cm-moved" }, t("audit.moved", { ids: e.identities || 0, convs: e.conversations || 0, calls: e.calls || 0 }))
        : null;
      return h("li", { class: "cm-audit-entry", data: { action: token(e.action), merge: e.merge_id || "" } },
        timeEl("hist-time", e.at), " ", h("span", { class: "cm-audit-text" }, auditLine(e, c)), moved, tail);
    });
    const box = section(t("cm.audit"), items, "cm.noAudit");
    box.classList.add("cm-audit");
    if (cm.err && cm.errAt.startsWith("undo:")) box.append(h("p", { class: "cm-error", role: "alert" }, errorText(cm.err)));
    return box;
  }

  // confirmFirst arms a confirmation: the first click asks, a second
  // within 4 s does it.
  function confirmFirst(key) {
    if (S.cm.confirm === key) {
      clearTimeout(S.cm.confirmTimer);
      S.cm.confirm = "";
      return true;
    }
    S.cm.confirm = key;
    clearTimeout(S.cm.confirmTimer);
    const cm = S.cm;
    cm.confirmTimer = setTimeout(() => { if (cm.confirm === key) { cm.confirm = ""; renderCustomer(); } }, 4000);
    renderCustomer();
    return false;
  }

  // cmDo runs one of the panel's actions for customer id, showing it busy.
  async function cmDo(busy, fn) {
    const cm = S.cm;
    if (cm.busy) return;
    cm.busy = busy;
    cm.err = null;
    renderCustomer();
    try {
      await fn(cm);
    } catch (e) {
      if (!e.handled) { cm.err = e; cm.errAt = busy; }
    } finally {
      cm.busy = "";
      if (S.cm === cm) renderCustomer();
    }
  }

  function addIdentity() {
    const c = S.customer, value = S.cm.addValue.trim();
    if (!c || !value) return;
    cmDo("add", async (cm) => {
      cm.taken = null;
      try {
        const cu = await api("POST", "/customers/" + enc(c.id) + "/identities", { type: cm.addType, value });
        if (S.cm !== cm) return;
        S.customer = cu;
        cm.addValue = "";
        loadAudit(cu.id);
      } catch (e) {
        if (e.code !== "identity_taken" || !e.customerId) throw e;
        let name = "";
        try { name = (await api("GET", "/customers/" + enc(e.customerId))).name || ""; } catch (_) { /* the id will do */ }
        cm.taken = { id: e.customerId, name, value };
      }
    });
  }

  function unlinkIdentity(type, value) {
    const c = S.customer;
    if (!c) return;
    cmDo("unlink", async (cm) => {
      const cu = await api("DELETE", "/customers/" + enc(c.id) + "/identities/" + enc(type) + "/" + enc(value));
      if (S.cm !== cm) return;
      S.customer = cu;
      loadAudit(cu.id);
    });
  }

  function findToMerge() {
    const q = S.cm.query.trim();
    if (!q) return;
    cmDo("find", async (cm) => {
      cm.found = null;
      cm.searched = false;
      const f = await findCustomer(q);
      cm.found = f;
      cm.searched = true;
    });
  }

  function mergeFrom(id) {
    const c = S.customer;
    if (!c || !id || !confirmFirst("merge:" + id)) return;
    cmDo("merge", async (cm) => {
      await api("POST", "/customers/" + enc(c.id) + "/merge", { from: id });
      cm.found = null;
      cm.taken = null;
      cm.query = "";
      cm.searched = false;
      await reloadOpenCustomer(c.id);
    });
  }

  function undoMerge(mergeID) {
    const c = S.customer;
    if (!c || !mergeID || !confirmFirst("undo:" + mergeID)) return;
    cmDo("undo:" + mergeID, async () => {
      await api("POST", "/merges/" + enc(mergeID) + "/undo");
      await reloadOpenCustomer(c.id);
    });
  }

  // reloadOpenCustomer fetches the open conversation again and shows its
  // customer (a merge or an unmerge may have changed whose it is), or
  // customer id when no conversation is open.
  async function reloadOpenCustomer(id) {
    let cid = id;
    if (S.openId) {
      const seq = S.threadSeq;
      try {
        const conv = await api("GET", "/conversations/" + enc(S.openId));
        if (seq === S.threadSeq && conv && conv.id) {
          S.open = Object.assign({}, S.open, conv);
          renderHeader();
          upsertConv(conv);
          cid = conv.customer_id || id;
        }
      } catch (_) { /* the customer's view will do */ }
    }
    if (!cid) return;
    if (S.customer && S.customer.id === cid) await refreshCustomer(cid);
    else await loadCustomer(cid);
  }

  function onCustomerTool(e) {
    const b = e.target.closest("[data-cm]");
    if (!b || b.disabled) return;
    switch (b.dataset.cm) {
      case "unlink": unlinkIdentity(b.dataset.type, b.dataset.value); break;
      case "merge": mergeFrom(b.dataset.id); break;
      case "undo": undoMerge(b.dataset.merge); break;
      default: break;
    }
  }

  function onCustomerInput(e) {
    const f = e.target.closest("[data-field]");
    if (!f) return;
    switch (f.dataset.field) {
      case "cm-type": S.cm.addType = f.value === "email" ? "email" : "phone"; break;
      case "cm-value": S.cm.addValue = f.value; S.cm.taken = null; break;
      case "cm-query": S.cm.query = f.value; break;
      default: break;
    }
  }

  function onCustomerSubmit(e) {
    const form = e.target.closest("[data-cm-form]");
    if (!form) return;
    e.preventDefault();
    if (form.dataset.cmForm === "add") addIdentity();
    if (form.dataset.cmForm === "find") findToMerge();
  }

  // ---------- quarantine (supervisors and admins)
  // Mail the e-mail connector could not take (a mail bomb, no From, a mail
  // that kept failing) is listed here newest first: its raw mail can be
  // downloaded, an entry dismissed (a second click confirms). Everything in
  // an entry but its numbers is the sender's text, shown as text only.
  const canQuarantine = () => !!S.me && (S.me.role === "supervisor" || S.me.role === "admin");
  const qKey = (it) => it.mailbox + "/" + it.id;
  const Q_RAW = /^\/api\/v1\/email\/quarantine\/[A-Za-z0-9_-]+\/[0-9]+-[0-9]+\/raw$/;

  function openQuarantine() {
    if (!canQuarantine()) return;
    S.quar.open = true;
    renderQuarantineFrame();
    loadQuarantine(true);
  }
  function closeQuarantine() {
    S.quar.open = false;
    S.quar.confirm = null;
    renderQuarantineFrame();
  }

  // renderQuarantineFrame shows the button to supervisors and admins, and
  // the view in place of the conversation panes while it is open.
  function renderQuarantineFrame() {
    const can = canQuarantine();
    if (!can) S.quar.open = false;
    const open = S.quar.open;
    const btn = $("quarantine-toggle");
    btn.hidden = !can;
    btn.setAttribute("aria-pressed", open ? "true" : "false");
    btn.classList.toggle("on", open);
    $("quarantine-view").hidden = !open;
    document.querySelector(".panes").hidden = open;
    document.body.dataset.view = open ? "quarantine" : "inbox";
    if (open) renderQuarantine();
    if (globalThis.SwitchboardDashboard) globalThis.SwitchboardDashboard.render(); // dashboard.js
  }

  async function loadQuarantine(reset) {
    const seq = ++S.quar.seq;
    const q = new URLSearchParams({ limit: "100" });
    if (!reset && S.quar.next) q.set("before", S.quar.next);
    S.quar.loading = true;
    renderQuarantine();
    try {
      const r = await api("GET", "/email/quarantine?" + q.toString());
      if (seq !== S.quar.seq) return;
      if (reset) S.quar.items = [];
      const have = new Set(S.quar.items.map(qKey));
      for (const it of (r && Array.isArray(r.items) ? r.items : [])) {
        if (!it || typeof it !== "object" || typeof it.id !== "string" || typeof it.mailbox !== "string" || have.has(qKey(it))) continue;
        have.add(qKey(it));
        S.quar.items.push(it);
      }
      S.quar.next = (r && typeof r.next_before === "string" && r.next_before) || null;
      S.quar.loaded = true;
    } catch (e) {
      if (seq !== S.quar.seq) return;
      showError(e);
      if (e.status === 403) closeQuarantine();
    } finally {
      if (seq === S.quar.seq) { S.quar.loading = false; renderQuarantine(); }
    }
  }

  function qFrom(it) {
    const name = typeof it.from_name === "string" ? it.from_name : "";
    const addr = typeof it.from_address === "string" ? it.from_address : "";
    if (name && addr) return name + " <" + addr + ">";
    return name || addr;
  }
  const qFileName = (it) => "quarantined-" + token(it.mailbox) + "-" + String(it.id).replace(/[^0-9-]/g, "") + ".eml";

  function qRow(it) {
    const key = qKey(it);
    const from = qFrom(it);
    const sender = typeof it.sender === "string" ? it.sender : "";
    const busy = S.quar.busy.has(key);
    const confirming = S.quar.confirm === key;
    const raw = typeof it.raw_url === "string" && Q_RAW.test(it.raw_url) ? it.raw_url : "";
    const size = sizeText(Number(it.size) || 0);
    return h("tr", { class: "q-row", data: { key, mailbox: token(it.mailbox), id: String(it.id).replace(/[^0-9-]/g, "") } },
      h("td", { class: "q-when" }, timeEl("q-time", it.at)),
      h("td", { class: "q-mailbox", title: typeof it.mailbox_address === "string" ? it.mailbox_address : null }, it.mailbox),
      h("td", { class: "q-from" },
        h("div", { class: "q-from-text" + (from ? "" : " muted") }, from || t("q.noFrom")),
        sender && sender.toLowerCase() !== String(it.from_address || "").toLowerCase()
          ? h("div", { class: "q-sender" }, t("q.sender", { sender })) : null),
      h("td", { class: "q-subject" + (it.subject ? "" : " muted") }, it.subject || t("q.noSubject")),
      h("td", { class: "q-reason" }, String(it.reason || "")),
      h("td", { class: "q-num q-size" }, size, it.header_only ? h("div", { class: "q-note" }, t("q.headerOnly")) : null),
      h("td", { class: "q-actions" },
        raw
          ? h("a", { class: "q-download", href: raw, download: qFileName(it), data: { key } }, t("q.download"))
          : h("span", { class: "q-note" }, t("q.noRaw")),
        h("button", {
          type: "button", class: "btn btn-sm q-dismiss" + (confirming ? " q-confirm" : ""), disabled: busy,
          data: { key, confirm: confirming ? "1" : "" },
        }, t(busy ? "q.dismissing" : confirming ? "q.confirm" : "q.dismiss"))));
  }

  function renderQuarantine() {
    if (!S.quar.open) return;
    const items = S.quar.items;
    $("quarantine-list").replaceChildren(...items.map(qRow));
    const empty = $("quarantine-empty");
    empty.hidden = items.length > 0;
    empty.textContent = S.quar.loading || !S.quar.loaded ? t("q.loading") : t("q.empty");
    $("quarantine-count").textContent = S.quar.loaded ? t(S.quar.next ? "q.countMore" : "q.count", { n: items.length }) : "";
    const more = $("quarantine-more");
    more.hidden = !S.quar.next;
    more.disabled = S.quar.loading;
    $("quarantine-refresh").disabled = S.quar.loading;
  }

  async function dismissQuarantined(key) {
    const it = S.quar.items.find((x) => qKey(x) === key);
    if (!it || S.quar.busy.has(key)) return;
    clearTimeout(S.quar.confirmTimer);
    if (S.quar.confirm !== key) {
      // First click: ask again, for a few seconds.
      S.quar.confirm = key;
      S.quar.confirmTimer = setTimeout(() => {
        if (S.quar.confirm === key) { S.quar.confirm = null; renderQuarantine(); }
      }, 5000);
      renderQuarantine();
      return;
    }
    S.quar.confirm = null;
    S.quar.busy.add(key);
    renderQuarantine();
    const quar = S.quar;
    try {
      await api("DELETE", "/email/quarantine/" + enc(it.mailbox) + "/" + enc(it.id));
      quar.items = quar.items.filter((x) => qKey(x) !== key);
    } catch (e) {
      if (e.status === 404) quar.items = quar.items.filter((x) => qKey(x) !== key); // dismissed elsewhere
      else showError(e);
    } finally {
      quar.busy.delete(key);
      renderQuarantine();
    }
  }

  // downloadQuarantined fetches the raw mail with the agent's token and
  // saves it; the object URL is typed as bytes and never shown, so the
  // mail is never rendered in the inbox's origin.
  async function downloadQuarantined(a) {
    const it = S.quar.items.find((x) => qKey(x) === a.dataset.key);
    const raw = it && typeof it.raw_url === "string" && Q_RAW.test(it.raw_url) ? it.raw_url : "";
    if (!raw || a.dataset.state === "loading") return;
    a.dataset.state = "loading";
    let res = null;
    try {
      res = await fetch(raw, { headers: { Authorization: "Bearer " + S.token }, cache: "no-store" });
    } catch (_) { res = null; }
    if (res && res.status === 401) { sessionExpired(); return; }
    if (!res || !res.ok) {
      a.dataset.state = "failed";
      const er = (res && (await res.json().catch(() => null))) || {};
      showError(res ? new ApiError(res.status, (er.error && er.error.code) || "", (er.error && er.error.message) || "") : new ApiError(0, "network", ""));
      return;
    }
    let blob;
    try { blob = await res.blob(); } catch (_) {
      a.dataset.state = "failed";
      showError(new ApiError(0, "network", ""));
      return;
    }
    const u = URL.createObjectURL(new Blob([blob], { type: "application/octet-stream" }));
    const tmp = h("a", { href: u, download: qFileName(it), hidden: true });
    document.body.append(tmp);
    tmp.click();
    tmp.remove();
    setTimeout(() => URL.revokeObjectURL(u), 60000);
    a.dataset.state = "done";
  }

  // ---------- top bar
  function renderTop() {
    $("me-name").textContent = S.me ? S.me.name || S.me.email || "" : "";
    $("me-name").title = S.me ? S.me.email || "" : "";
    const ps = $("presence-select");
    const st = (S.presence && S.presence.status) || "offline";
    ps.value = st;
    ps.dataset.status = token(st);
    setConn(S.conn);
    renderQuarantineFrame();
  }
  function setConn(state) {
    S.conn = state;
    const el = $("conn-status");
    el.dataset.state = state;
    $("conn-label").textContent = t("conn." + state);
  }

  async function setPresence(status) {
    const ps = $("presence-select");
    ps.disabled = true;
    try {
      const p = await api("PUT", "/me/presence", { status });
      ownPresence(p && p.status ? p : Object.assign({}, S.presence, { status }));
      loadAgents();
    } catch (e) { showError(e); }
    finally { ps.disabled = false; renderTop(); }
  }

  // ---------- i18n rendering
  function applyStatic() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
    for (const el of document.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
    for (const el of document.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
    const other = lang === "zh" ? "en" : "zh";
    for (const id of ["lang-switch", "login-lang"]) {
      const b = $(id);
      b.textContent = DICT[other]["lang.name"];
      b.dataset.lang = lang;
      b.lang = other === "zh" ? "zh-CN" : "en";
    }
  }
  function renderAll() {
    applyStatic();
    renderTop();
    renderList();
    renderHeader();
    renderThread();
    renderComposer();
    renderCustomer();
    renderError();
    renderNotice();
    renderQuarantineFrame();
    if (S.loginErr) setLoginError(S.loginErr);
  }
  function switchLang() {
    lang = lang === "zh" ? "en" : "zh";
    store("local", "sb.lang", lang);
    const box = $("thread");
    const keep = box.scrollTop;
    renderAll();
    box.scrollTop = keep;
  }

  // ---------- socket
  function connect() {
    clearTimeout(S.wsTimer);
    if (!S.token) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let url = proto + "//" + location.host + API + "/inbox/ws?access_token=" + enc(S.token);
    if (S.lastIds.agent) url += "&last_event_id=" + enc(S.lastIds.agent);
    if (S.lastIds.inbox) url += "&last_inbox_id=" + enc(S.lastIds.inbox);
    let ws;
    try { ws = new WebSocket(url); } catch (_) { scheduleReconnect(true); return; }
    S.ws = ws;
    let opened = false;
    ws.onopen = () => {
      if (S.ws !== ws) return;
      opened = true;
      S.backoff = 0;
      S.lastRx = Date.now();
      setConn("connected");
      sendWatch();
      clearInterval(S.pingTimer);
      S.pingTimer = setInterval(heartbeat, 20000);
    };
    ws.onmessage = (e) => {
      if (S.ws !== ws) return;
      S.lastRx = Date.now();
      let ev;
      try { ev = JSON.parse(e.data); } catch (_) { return; }
      try { onEvent(ev); } catch (err) { console.error("inbox event", err); }
    };
    ws.onclose = () => {
      if (S.ws !== ws) return;
      dropSocket(!opened);
    };
  }

  function dropSocket(neverOpened) {
    const ws = S.ws;
    S.ws = null;
    clearInterval(S.pingTimer);
    if (ws) { try { ws.close(); } catch (_) { /* already gone */ } }
    setConn("reconnecting");
    scheduleReconnect(neverOpened);
  }

  function scheduleReconnect(neverOpened) {
    clearTimeout(S.wsTimer);
    if (!S.token) return;
    const delay = Math.min(15000, 1000 * 2 ** S.backoff) * (0.9 + Math.random() * 0.2);
    S.backoff = Math.min(S.backoff + 1, 4);
    S.wsTimer = setTimeout(async () => {
      // A socket refused before opening may mean an expired token: ask
      // the API, whose 401 brings back the login screen.
      if (neverOpened) { try { await api("GET", "/me"); } catch (_) { /* 401 handled in api */ } }
      if (S.token && !S.ws) connect();
    }, delay);
  }

  function heartbeat() {
    const ws = S.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - S.lastRx > 50000) { dropSocket(false); return; }
    wsSend({ type: "ping" });
  }

  function disconnect() {
    clearTimeout(S.wsTimer);
    clearInterval(S.pingTimer);
    const ws = S.ws;
    S.ws = null;
    if (ws) { try { ws.close(); } catch (_) { /* ignore */ } }
    setConn("reconnecting");
  }

  function wsSend(obj) {
    if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(obj));
  }
  function sendWatch() { wsSend({ type: "watch", conversation_id: S.openId || "" }); }

  function wakeUp() {
    if (!S.token) return;
    if (!S.ws) { S.backoff = 0; connect(); return; }
    heartbeat();
  }

  // ---------- events
  function onEvent(ev) {
    if (!ev || typeof ev !== "object") return;
    if ((ev.stream === "agent" || ev.stream === "inbox") && ev.id) S.lastIds[ev.stream] = String(ev.id);
    const d = ev.data || {};
    if (globalThis.SwitchboardDashboard) globalThis.SwitchboardDashboard.event(ev.type, d);
    switch (ev.type) {
      case "hello":
        if (d.agent) S.me = d.agent;
        if (d.presence) ownPresence(d.presence);
        renderTop();
        break;
      case "presence":
        ownPresence(d);
        loadAgents();
        break;
      case "resync":
        resync();
        break;
      case "message.new":
        onMessageNew(d);
        break;
      case "message.delivery":
        onDelivery(d);
        break;
      case "conversation.updated":
      case "conversation.assigned": {
        const c = d.conversation;
        const unread = ev.type === "conversation.assigned";
        const cid = (c && c.id) || d.conversation_id;
        // An assignment writes a system line into the transcript, which
        // the socket does not carry: fetch what is new in the open thread.
        if (cid && cid === S.openId) {
          const changed = Array.isArray(d.changed) ? d.changed : null;
          if (!changed || changed.includes("assignee") || !c || !S.open || c.assignee !== S.open.assignee) catchUpThread();
        }
        if (c && c.id) upsertConv(c, { unread });
        else if (d.conversation_id) fetchConv(d.conversation_id, { unread });
        agentsSoon();
        break;
      }
      case "customer.updated": {
        // {customer_id, changed, merged}: a channel's profile changed the
        // name, avatar or identities, or customers were merged into
        // customer_id. The panel showing one of them loads customer_id; list
        // rows of theirs are fetched again for the name.
        // unmerged: an unmerge took those customers out of customer_id
        // again; the open conversation may be theirs now.
        const id = typeof d.customer_id === "string" ? d.customer_id : "";
        if (!id) break;
        const ids = new Set([id, ...(Array.isArray(d.merged) ? d.merged : []), ...(Array.isArray(d.unmerged) ? d.unmerged : [])]);
        if ((S.open && ids.has(S.open.customer_id)) || (S.customer && ids.has(S.customer.id))) {
          if (Array.isArray(d.unmerged) && d.unmerged.length) reloadOpenCustomer(id);
          else if (S.customer && ids.has(S.customer.id)) refreshCustomer(id);
        }
        const changed = Array.isArray(d.changed) ? d.changed : [];
        if (ids.size > 1 || changed.includes("name")) {
          S.convs.filter((c) => ids.has(c.customer_id)).slice(0, 20).forEach((c) => fetchConv(c.id));
        }
        break;
      }
      case "call.screenpop":
      case "call.updated": // the screen-pop lives in calls.js
        if (globalThis.SwitchboardCalls) globalThis.SwitchboardCalls.event(ev.type, d);
        break;
      case "sla.warning":
      case "sla.breached":
        onSLA(ev.type, d);
        break;
      default:
        break;
    }
  }

  // onSLA tells of a ticket's SLA warning or breach (sent to its assignee
  // and its team's supervisors): a notice that opens the conversation, and
  // the mark on its row (the open ticket follows through upsertConv).
  function onSLA(type, d) {
    const cid = typeof d.conversation_id === "string" ? d.conversation_id : "";
    const breached = type === "sla.breached";
    const c = cid ? S.byId.get(cid) : null;
    if (c) upsertConv({ id: cid, sla_flag: breached || c.sla_flag === "breached" ? "breached" : "warning" });
    else if (S.ticket) ticketSoon(cid);
    const ticket = d.ticket ? String(d.ticket) : cid;
    const name = String(d.customer_name || (c && c.customer_name) || "");
    const key = "notice.sla" + (breached ? "Breached" : "Warning") + (name ? "" : "NoName");
    showNotice(() => t(key, { ticket, name, target: slaTargetLabel(d.target) }),
      cid ? () => openConversation(cid) : null, type);
  }

  function bumpFromMessage(cid, m, unread) {
    const c = S.byId.get(cid);
    if (!c) return false;
    const upd = { id: cid, last_message_at: m.created_at || new Date().toISOString() };
    if (m.direction !== "system") upd.preview = msgBody(m);
    upsertConv(upd, { bump: true, unread });
    return true;
  }

  function onMessageNew(d) {
    const m = d.message;
    const cid = d.conversation_id || (m && m.conversation_id);
    if (!m || !cid) return;
    addMessage(cid, m);
    // A customer message opens the reply window again; the live copy of
    // the event carries the new end too, so take it before the dedup.
    const ru = d.reply_until || (d.conversation && d.conversation.reply_until);
    if (typeof ru === "string") moveReplyWindow(cid, ru);
    if (m.id && S.seen.has(m.id)) return;
    if (m.id) {
      if (S.seen.size > 5000) S.seen.clear();
      S.seen.add(m.id);
    }
    const unread = m.direction === "in" && cid !== S.openId;
    if (!bumpFromMessage(cid, m, unread)) fetchConv(cid, { unread });
  }

  function onDelivery(d) {
    const m = d.message;
    const id = d.message_id || (m && m.id) || d.id;
    const cid = d.conversation_id || (m && m.conversation_id);
    let del = d.delivery || (m && m.delivery);
    if (!del && d.status) del = { status: d.status, error: d.error, code: d.code, updated_at: d.updated_at };
    if (!id || !del) return;
    if (cid && cid !== S.openId) return;
    setDelivery(id, del);
  }

  async function resync() {
    loadList(true, false);
    loadAgents();
    if (S.ticket) ticketSoon();
    if (S.openId) {
      const seq = ++S.threadSeq;
      try {
        const c = await api("GET", "/conversations/" + enc(S.openId));
        if (seq !== S.threadSeq) return;
        S.open = c;
        renderHeader();
      } catch (e) { showError(e); }
      if (seq === S.threadSeq) await loadMessages(seq);
    }
  }

  // ---------- keyboard
  function isTyping(el) {
    if (!el || !el.tagName) return false;
    if (el.isContentEditable) return true;
    if (el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    if (el.tagName === "INPUT") return !["button", "submit", "checkbox", "radio", "reset"].includes(el.type);
    return false;
  }

  function onKey(e) {
    if ($("app").hidden || e.isComposing || e.keyCode === 229) return;
    const lb = $("lightbox");
    if (lb && lb.open) return; // the viewer's own keys (Esc closes it)
    const tgt = e.target;
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      if (tgt && tgt.id === "reply-text") { e.preventDefault(); send(); }
      return;
    }
    if (e.key === "Escape") {
      if (isTyping(tgt)) { tgt.blur(); $("conversation-list").focus(); e.preventDefault(); }
      else if (S.quar.open) closeQuarantine();
      else if (document.body.classList.contains("show-customer")) document.body.classList.remove("show-customer");
      else if (S.error) hideError();
      return;
    }
    if (isTyping(tgt) || e.ctrlKey || e.metaKey || e.altKey || S.quar.open) return;
    const list = $("conversation-list");
    const inList = tgt === list || list.contains(tgt);
    switch (e.key) {
      case "j": moveCursor(1); break;
      case "k": moveCursor(-1); break;
      case "ArrowDown": if (!inList) return; moveCursor(1); break;
      case "ArrowUp": if (!inList) return; moveCursor(-1); break;
      case "Enter":
        if (!(inList || tgt === document.body) || !S.cursor) return;
        openConversation(S.cursor);
        break;
      case "r":
        if (!S.openId) return;
        $("reply-text").focus();
        break;
      case "n": toggleNote(); break;
      case "/": $("filter-search").focus(); break;
      default: return;
    }
    e.preventDefault();
  }

  // ---------- wiring
  function wire() {
    $("login-form").addEventListener("submit", doLogin);
    $("login-lang").addEventListener("click", switchLang);
    $("lang-switch").addEventListener("click", switchLang);
    $("logout").addEventListener("click", doLogout);
    $("presence-select").addEventListener("change", (e) => setPresence(e.target.value));
    $("error-dismiss").addEventListener("click", hideError);
    $("notice-dismiss").addEventListener("click", () => { S.notice = null; renderNotice(); });
    $("notice-body").addEventListener("click", () => {
      const n = S.notice;
      S.notice = null;
      renderNotice();
      if (n && n.action) n.action();
    });
    for (const b of document.querySelectorAll(".tab")) {
      b.addEventListener("click", () => {
        S.view = b.dataset.view;
        store("session", "sb.view", S.view);
        loadList(true, true);
      });
    }
    const onFilter = () => {
      const ch = $("filter-channel").value, st = $("filter-status").value;
      if (ch === S.channel && st === S.status) return;
      S.channel = ch;
      S.status = st;
      loadList(true, true);
    };
    for (const id of ["filter-channel", "filter-status"]) {
      $(id).addEventListener("change", onFilter);
      $(id).addEventListener("input", onFilter);
    }
    $("filter-search").addEventListener("input", (e) => { S.search = e.target.value; renderList(); });
    $("load-more").addEventListener("click", () => loadList(false, false));
    $("sort-due").addEventListener("click", () => {
      S.sort = S.sort === "due" ? "" : "due";
      store("session", "sb.sort", S.sort || null);
      loadList(true, true);
    });
    $("conversation-list").addEventListener("click", (e) => {
      const li = e.target.closest(".conversation-item");
      if (li) openConversation(li.dataset.id);
    });
    $("status-select").addEventListener("change", (e) => patchOpen({ status: e.target.value }, e.target));
    $("transfer-agent").addEventListener("change", (e) => { if (e.target.value) patchOpen({ assignee: e.target.value }, e.target); });
    $("transfer-team").addEventListener("change", (e) => { if (e.target.value) patchOpen({ team: e.target.value }, e.target); });
    // Opening the transfer picker refreshes presence and load (a mouse
    // press and the focus it brings count once).
    const pickerOpened = () => { if (!S.agentsReq && Date.now() - S.agentsAsked > 1000) loadAgents(); };
    $("transfer-agent").addEventListener("pointerdown", pickerOpened);
    $("transfer-agent").addEventListener("focus", pickerOpened);
    $("take-button").addEventListener("click", (e) => { if (S.me) patchOpen({ assignee: S.me.id }, e.currentTarget); });
    $("th-ticket").addEventListener("click", (e) => {
      e.preventDefault();
      if (S.open) showTicket(S.open.ticket_id);
    });
    $("customer-toggle").addEventListener("click", () => document.body.classList.toggle("show-customer"));
    $("transfer-agent").addEventListener("blur", () => renderHeader());
    $("customer-panel").addEventListener("click", (e) => {
      const a = e.target.closest("[data-ticket]");
      if (a) { e.preventDefault(); showTicket(a.dataset.ticket); return; }
      const cv = e.target.closest("[data-conv]");
      if (cv) { openConversation(cv.dataset.conv); return; }
      if (e.target.closest("#ticket-close")) { S.ticket = null; S.ticketSeq++; renderCustomer(); }
      if (e.target.closest("#customer-close")) document.body.classList.remove("show-customer");
    });
    $("customer-panel").addEventListener("click", onCustomerTool);
    $("customer-panel").addEventListener("input", onCustomerInput);
    $("customer-panel").addEventListener("change", onCustomerInput);
    $("customer-panel").addEventListener("submit", onCustomerSubmit);
    $("composer").addEventListener("submit", (e) => { e.preventDefault(); send(); });
    $("reply-note-toggle").addEventListener("click", toggleNote);
    $("reply-attach").addEventListener("click", () => $("reply-file").click());
    $("reply-file").addEventListener("change", (e) => {
      const files = [...(e.target.files || [])];
      e.target.value = "";
      addFiles(files);
    });
    $("reply-attachments").addEventListener("click", (e) => {
      const b = e.target.closest(".att-remove");
      const a = b && S.atts.find((x) => String(x.key) === b.dataset.key);
      if (!a) return;
      dropAtt(a);
      renderAtts();
      renderComposer();
    });
    // A picture pasted into the reply box becomes an attachment; text on
    // the clipboard pastes as usual.
    $("reply-text").addEventListener("paste", (e) => {
      const cd = e.clipboardData;
      if (!cd || !canAttach()) return;
      const files = [...(cd.files || [])].filter((f) => f && /^image\//.test(f.type));
      if (!files.length) return;
      if (!cd.types || !Array.from(cd.types).includes("text/plain")) e.preventDefault();
      addFiles(files);
    });
    $("quarantine-toggle").addEventListener("click", () => (S.quar.open ? closeQuarantine() : openQuarantine()));
    $("quarantine-close").addEventListener("click", closeQuarantine);
    $("quarantine-refresh").addEventListener("click", () => loadQuarantine(true));
    $("quarantine-more").addEventListener("click", () => loadQuarantine(false));
    $("quarantine-list").addEventListener("click", (e) => {
      const a = e.target.closest(".q-download");
      if (a) { e.preventDefault(); downloadQuarantined(a); return; }
      const b = e.target.closest(".q-dismiss");
      if (b && !b.disabled) dismissQuarantined(b.dataset.key);
    });
    document.addEventListener("keydown", onKey);
    window.addEventListener("online", wakeUp);
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") wakeUp(); });
    setInterval(refreshTimes, 30000);
    setInterval(() => { if (S.token && document.visibilityState === "visible") loadAgents(); }, 60000);
  }

  function boot() {
    wire();
    $("view-" + S.view).classList.add("on");
    applyStatic();
    if (S.token) startApp();
    else { renderAll(); showLogin(); }
  }

  // calls.js, kb.js and dashboard.js work through these (h: the one
  // element builder of the inbox).
  globalThis.SwitchboardInbox = { api, t, errorText, agentName, openConversation, current: () => S.open, findCustomer,
    me: () => S.me, token: () => S.token, h };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
