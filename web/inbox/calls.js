// Switchboard inbox: the screen-pop of telephone calls.
//
// The agent socket brings "call.screenpop" (the caller's record: a
// router CallView) and "call.updated" ({call}: answered, ended, missed, a
// ticket made of it); app.js hands both to SwitchboardCalls.event. Each
// call is a card in #call-pop until the agent closes it: who is calling
// (name and level, identities on every channel, open tickets, recent
// conversations, the last call) or "new caller" with a name field and a
// way to link the number to an existing customer (found by phone, e-mail
// or customer id), how the call goes, and two buttons: create a ticket of
// the call, or attach it to an existing one.
//
// Security rule of this file, as of app.js: text from the API or the
// socket reaches the page only through textContent, text nodes or
// attribute values set by name; nothing is ever parsed as HTML. No inline
// styles (the page's CSP forbids them): classes and data attributes only.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  // app.js exposes api, t, errorText, agentName, openConversation and
  // current (the open conversation).
  const inbox = () => globalThis.SwitchboardInbox || null;
  const t = (key, params) => (inbox() ? inbox().t(key, params) : key);
  const MAX_CARDS = 5;

  const calls = new Map(); // call id → card state
  const dismissed = new Set(); // calls the agent closed: later pops stay away
  let timer = 0; // ticks the talk time of answered calls

  // h builds an element; it never parses HTML (app.js's, the inbox's one).
  const h = (tag, props, ...kids) => globalThis.SwitchboardInbox.h(tag, props, ...kids);
  const str = (v) => (typeof v === "string" ? v : v == null ? "" : String(v));
  const list = (v) => (Array.isArray(v) ? v : []);

  // ---------- events
  function event(type, d) {
    if (!d || typeof d !== "object") return;
    if (type === "call.screenpop") pop(d);
    else if (type === "call.updated") update(d.call);
  }

  function pop(view) {
    const c = view && view.call;
    if (!c || typeof c.id !== "string" || !c.id || dismissed.has(c.id)) return;
    const st = calls.get(c.id) || { id: c.id, name: "", attachTo: "", busy: false, err: null, seq: 0,
      linkQuery: "", linkFound: null, linkSearched: false };
    st.view = view;
    calls.set(c.id, st);
    trim();
    render();
  }

  function update(c) {
    if (!c || typeof c.id !== "string" || !c.id || dismissed.has(c.id)) return;
    const st = calls.get(c.id);
    if (st) {
      st.view = Object.assign({}, st.view, { call: c });
      render();
    } else if (c.state === "ringing" || c.state === "answered") {
      fetchView(c.id); // a tab opened after the pop: show it all the same
    }
  }

  async function fetchView(id) {
    const ib = inbox();
    if (!ib) return;
    try {
      const v = await ib.api("GET", "/calls/" + enc(id));
      if (!calls.has(id)) pop(v);
    } catch (_) { /* not ours to see, or gone: nothing to show */ }
  }

  // trim keeps the newest cards, dropping ended calls first.
  function trim() {
    while (calls.size > MAX_CARDS) {
      const all = [...calls.values()].sort((a, b) => started(a) - started(b));
      const drop = all.find((s) => !live(s.view.call)) || all[0];
      calls.delete(drop.id);
    }
  }
  const started = (st) => Date.parse(st.view.call.started_at) || 0;
  const live = (c) => c.state === "ringing" || c.state === "answered";

  // ---------- rendering
  function clock(sec) {
    sec = Math.max(0, Math.floor(sec));
    const m = Math.floor(sec / 60), s = sec % 60;
    return m + ":" + String(s).padStart(2, "0");
  }
  function when(ts) {
    const d = new Date(ts);
    if (!ts || isNaN(d)) return "";
    return new Intl.DateTimeFormat(document.documentElement.lang || undefined, { dateStyle: "medium", timeStyle: "short" }).format(d);
  }
  function agent(c) {
    const ib = inbox();
    if (c.answered_agent) return ib && ib.agentName ? ib.agentName(c.answered_agent) : c.answered_agent;
    return str(c.answered_by);
  }

  // stateText says how the call goes.
  function stateText(c) {
    switch (c.state) {
      case "ringing": return t("call.ringing");
      case "answered": {
        const d = clock((Date.now() - (Date.parse(c.answered_at) || Date.now())) / 1000);
        const who = agent(c);
        return who ? t("call.answeredBy", { name: who, d }) : t("call.answered", { d });
      }
      case "ended":
        // talk_unknown: the answer event was lost, the talk time with it.
        return c.answered_at || c.answered_by ? t("call.ended", { d: c.talk_unknown ? "—" : clock(c.duration || 0) }) : t("call.endedNoAnswer");
      case "missed": return t("call.missed");
      default: return str(c.state);
    }
  }

  function section(title, items, empty) {
    return h("section", { class: "call-section" },
      h("h4", null, title),
      items.length ? h("ul", { class: "call-list" }, ...items) : h("p", { class: "muted" }, empty));
  }

  function known(v) {
    const cust = v.customer || {};
    const ids = list(cust.identities).slice(0, 8).map((x) =>
      h("li", { class: "call-ident" },
        h("span", { class: "call-ident-ch" }, x.channel ? t("channel." + str(x.channel)) : str(x.type)),
        h("span", { class: "call-ident-value" }, str(x.value))));
    const tickets = list(v.open_tickets).map((x) =>
      h("li", null,
        h("button", { type: "button", class: "btn-link call-ticket", data: { act: "open", conv: str(x.conversation_id) } },
          "#" + str(x.number || x.id)),
        " ",
        h("span", { class: "pill st-" + str(x.status).replace(/[^a-z]/g, "") }, t("status." + str(x.status))),
        " ",
        h("span", { class: "call-subject" }, str(x.subject))));
    const convs = list(v.recent_conversations).slice(0, 5).map((x) =>
      h("li", null,
        h("button", { type: "button", class: "call-conv", data: { act: "open", conv: str(x.id) } },
          h("span", { class: "call-conv-ch" }, t("channel." + str(x.channel))),
          h("span", { class: "call-conv-preview" }, str(x.preview)))));
    const last = v.last_call;
    const lastLine = last && last.id
      ? h("p", { class: "call-last" }, t("call.lastCall") + ": " + when(last.started_at) + " · " + stateText(last))
      : h("p", { class: "call-last muted" }, t("call.noLastCall"));
    return [
      section(t("call.identities"), ids, "—"),
      section(t("call.openTickets"), tickets, t("call.noOpenTickets")),
      section(t("call.recent"), convs, t("call.noRecent")),
      lastLine,
    ];
  }

  // attachOptions are the tickets a call may be attached to: the
  // conversation open in the inbox, and the caller's open tickets.
  function attachOptions(v) {
    const opts = [];
    const ib = inbox();
    const cur = ib && ib.current ? ib.current() : null;
    if (cur && cur.id && cur.status !== "closed") {
      opts.push({ id: cur.id, label: t("call.attachCurrent", { name: str(cur.customer_name) || "#" + str(cur.ticket_id) }) });
    }
    for (const x of list(v.open_tickets)) {
      if (x.conversation_id && !opts.some((o) => o.id === x.conversation_id)) {
        opts.push({ id: x.conversation_id, label: "#" + str(x.number) + " " + str(x.subject) });
      }
    }
    return opts;
  }

  function actions(st) {
    const v = st.view, c = v.call;
    if (c.conversation_id) {
      return h("div", { class: "call-actions" },
        h("span", { class: "call-linked" }, c.ticket_id ? t("call.linked", { number: c.ticket_id }) : t("call.linkedNoNumber")),
        h("button", { type: "button", class: "btn btn-sm", data: { act: "open", conv: c.conversation_id } }, t("call.openTicket")));
    }
    // A missed call's callback ticket is its ticket: open it, make no other.
    if (c.callback_conversation_id) {
      return h("div", { class: "call-actions" },
        h("button", { type: "button", class: "btn btn-sm", data: { act: "open", conv: str(c.callback_conversation_id) } }, t("call.openTicket")));
    }
    const opts = attachOptions(v);
    if (!opts.some((o) => o.id === st.attachTo)) st.attachTo = opts.length ? opts[0].id : "";
    return h("div", { class: "call-actions" },
      h("button", { type: "button", class: "btn btn-primary btn-sm", data: { act: "ticket" }, disabled: st.busy },
        st.busy === "ticket" ? t("call.creating") : t("call.create")),
      h("div", { class: "call-attach" },
        h("select", { class: "call-attach-to", data: { field: "attach" }, "aria-label": t("call.attachTo"), disabled: !opts.length || st.busy },
          ...(opts.length
            ? opts.map((o) => h("option", { value: o.id, selected: o.id === st.attachTo }, o.label))
            : [h("option", { value: "" }, t("call.attachNone"))])),
        h("button", { type: "button", class: "btn btn-sm", data: { act: "attach" }, disabled: !opts.length || st.busy },
          t("call.attach"))));
  }

  function card(st) {
    const v = st.view, c = v.call;
    const cust = v.known && v.customer ? v.customer : null;
    const number = str(c.number || c.from) || t("call.withheld");
    const kids = [
      h("header", { class: "call-head" },
        h("span", { class: "call-icon", "aria-hidden": "true" }, "☎"),
        h("div", { class: "call-who" },
          h("div", { class: "call-name" }, cust ? str(cust.name) || number : t("call.newCaller")),
          h("div", { class: "call-sub" },
            h("span", { class: "call-dir" }, t(c.direction === "out" ? "call.outbound" : "call.inbound")),
            " ",
            h("span", { class: "call-number" }, number),
            cust && cust.level ? h("span", { class: "level call-level" }, str(cust.level)) : null)),
        h("button", { type: "button", class: "banner-close call-close", data: { act: "close" }, "aria-label": t("dismiss"), title: t("dismiss") }, "×")),
      h("p", { class: "call-state", data: { state: str(c.state) }, role: "status" }, stateText(c)),
    ];
    if (cust) kids.push(...known(v));
    else {
      kids.push(h("label", { class: "call-name-field" },
        h("span", null, t("call.name")),
        h("input", { type: "text", maxlength: "64", data: { field: "name" }, value: st.name, placeholder: t("call.namePlaceholder"), autocomplete: "off" })));
      if (str(c.number).startsWith("+")) kids.push(linkBox(st));
    }
    kids.push(actions(st));
    if (st.err) kids.push(h("p", { class: "call-error", role: "alert" }, errText(st.err)));
    return h("section", { class: "call-card", data: { call: c.id, state: str(c.state), known: cust ? "1" : "0" } }, ...kids);
  }

  // linkBox offers to make the caller's number one of an existing
  // customer's identities: find the customer, then link.
  function linkBox(st) {
    const f = st.linkFound;
    return h("div", { class: "call-link" },
      h("span", { class: "call-link-title" }, t("call.link")),
      h("div", { class: "call-link-row" },
        h("input", { type: "search", maxlength: "254", data: { field: "link" }, value: st.linkQuery,
          placeholder: t("call.linkPlaceholder"), "aria-label": t("call.link"), autocomplete: "off" }),
        h("button", { type: "button", class: "btn btn-sm", data: { act: "find" }, disabled: st.busy }, t("call.linkFind"))),
      f && f.id
        ? h("button", { type: "button", class: "btn btn-primary btn-sm call-link-to", data: { act: "link", customer: f.id }, disabled: st.busy },
          st.busy === "link" ? t("call.linking") : t("call.linkTo", { name: str(f.name) || str(f.id) }))
        : st.linkSearched ? h("p", { class: "muted call-link-none" }, t("call.linkNone")) : null);
  }

  function errText(e) {
    const ib = inbox();
    return ib && ib.errorText ? ib.errorText(e) : String(e && e.message || e);
  }

  function render() {
    const box = $("call-pop");
    if (!box) return;
    // Keep the field being typed in, and where, across the redraw.
    const a = document.activeElement;
    const keep = a && box.contains(a) && a.dataset && a.dataset.field && a.closest("[data-call]")
      ? { call: a.closest("[data-call]").dataset.call, field: a.dataset.field, s: a.selectionStart, e: a.selectionEnd }
      : null;
    const cards = [...calls.values()].sort((x, y) => started(y) - started(x)).map(card);
    box.replaceChildren(...cards);
    box.hidden = cards.length === 0;
    if (keep) {
      const el = [...box.querySelectorAll("[data-call]")].find((c) => c.dataset.call === keep.call);
      const f = el && el.querySelector('[data-field="' + keep.field + '"]');
      if (f) {
        f.focus();
        if (typeof keep.s === "number" && f.setSelectionRange) f.setSelectionRange(keep.s, keep.e);
      }
    }
    const answered = [...calls.values()].some((s) => s.view.call.state === "answered");
    if (answered && !timer) timer = setInterval(tickClock, 1000);
    if (!answered && timer) { clearInterval(timer); timer = 0; }
  }

  // tickClock moves the talk time of answered calls on, without a redraw.
  function tickClock() {
    for (const el of document.querySelectorAll('#call-pop .call-card[data-state="answered"] .call-state')) {
      const st = calls.get(el.closest("[data-call]").dataset.call);
      if (st) el.textContent = stateText(st.view.call);
    }
  }

  // ---------- actions
  async function createTicket(st) {
    const ib = inbox();
    if (!ib || st.busy) return;
    st.busy = "ticket";
    st.err = null;
    render();
    const name = st.name.trim();
    try {
      const conv = await ib.api("POST", "/calls/" + enc(st.id) + "/ticket", !st.view.known && name ? { name } : undefined);
      st.view.call = Object.assign({}, st.view.call, { conversation_id: conv.id, ticket_id: conv.ticket_id || "" });
      if (conv.id) ib.openConversation(conv.id);
    } catch (e) {
      if (!e.handled) st.err = e;
    } finally {
      st.busy = false;
      render();
    }
  }

  async function attach(st) {
    const ib = inbox();
    if (!ib || st.busy || !st.attachTo) return;
    st.busy = "attach";
    st.err = null;
    render();
    try {
      const r = await ib.api("POST", "/calls/" + enc(st.id) + "/attach", { conversation_id: st.attachTo });
      const conv = (r && r.conversation) || {};
      st.view.call = Object.assign({}, st.view.call, { conversation_id: conv.id || st.attachTo, ticket_id: conv.ticket_id || "" });
    } catch (e) {
      if (!e.handled) st.err = e;
    } finally {
      st.busy = false;
      render();
    }
  }

  async function findLink(st) {
    const ib = inbox();
    const q = st.linkQuery.trim();
    if (!ib || !ib.findCustomer || st.busy || !q) return;
    st.busy = "find";
    st.err = null;
    st.linkFound = null;
    st.linkSearched = false;
    render();
    try {
      st.linkFound = await ib.findCustomer(q);
      st.linkSearched = true;
    } catch (e) {
      if (!e.handled) st.err = e;
    } finally {
      st.busy = false;
      render();
    }
  }

  // link makes the caller's number one of the found customer's
  // identities; the pop then shows the caller as that customer.
  async function link(st) {
    const ib = inbox();
    const f = st.linkFound, number = str(st.view.call.number);
    if (!ib || st.busy || !f || !f.id || !number) return;
    st.busy = "link";
    st.err = null;
    render();
    try {
      const cu = await ib.api("POST", "/customers/" + enc(f.id) + "/identities", { type: "phone", value: number });
      const active = (x) => x && (x.status === "new" || x.status === "open" || x.status === "pending");
      st.view = Object.assign({}, st.view, {
        known: true,
        customer: { id: cu.id, name: cu.name, level: cu.level, region: cu.region, identities: list(cu.identities) },
        open_tickets: list(cu.tickets).filter(active).slice(0, 10),
        recent_conversations: list(cu.conversations).slice(0, 10),
        call: Object.assign({}, st.view.call, { customer_id: cu.id }),
      });
    } catch (e) {
      if (!e.handled) st.err = e;
    } finally {
      st.busy = false;
      render();
    }
  }

  function onClick(e) {
    const b = e.target.closest("[data-act]");
    const el = b && b.closest("[data-call]");
    const st = el && calls.get(el.dataset.call);
    if (!st || b.disabled) return;
    switch (b.dataset.act) {
      case "close":
        dismissed.add(st.id);
        calls.delete(st.id);
        render();
        break;
      case "ticket": createTicket(st); break;
      case "attach": attach(st); break;
      case "find": findLink(st); break;
      case "link": link(st); break;
      case "open":
        if (b.dataset.conv && inbox()) inbox().openConversation(b.dataset.conv);
        break;
      default: break;
    }
  }

  function onInput(e) {
    const f = e.target.closest("[data-field]");
    const el = f && f.closest("[data-call]");
    const st = el && calls.get(el.dataset.call);
    if (!st) return;
    if (f.dataset.field === "name") st.name = f.value;
    if (f.dataset.field === "attach") st.attachTo = f.value;
    if (f.dataset.field === "link") st.linkQuery = f.value;
  }

  // onKey finds the customer when Enter is pressed in the link field.
  function onKey(e) {
    if (e.key !== "Enter" || e.isComposing) return;
    const f = e.target.closest('[data-field="link"]');
    const el = f && f.closest("[data-call]");
    const st = el && calls.get(el.dataset.call);
    if (!st) return;
    e.preventDefault();
    findLink(st);
  }

  // reset forgets every call (logout, another agent signs in).
  function reset() {
    calls.clear();
    dismissed.clear();
    render();
  }

  function wire() {
    const box = $("call-pop");
    if (!box) return;
    box.addEventListener("click", onClick);
    box.addEventListener("input", onInput);
    box.addEventListener("change", onInput);
    box.addEventListener("keydown", onKey);
    // The conversation open in the inbox may have changed: offer it.
    box.addEventListener("pointerenter", () => render());
    // app.js switches the language first (its listener came first).
    for (const id of ["lang-switch", "login-lang"]) {
      const b = $(id);
      if (b) b.addEventListener("click", () => render());
    }
  }

  globalThis.SwitchboardCalls = { event, reset, render };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
