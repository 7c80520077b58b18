// Switchboard inbox: the knowledge base.
//
// Three parts, all built by this file into the page app.js draws:
//   - the "知识库 / Knowledge base" view (a top-bar button): articles and
//     canned replies, listed and searched; supervisors and admins create,
//     edit and delete them, agents read them;
//   - the canned-reply picker of the reply box: a button, or "/" and a
//     shortcut typed in the box; the chosen reply is rendered for the open
//     conversation (its placeholders filled by the server) and inserted;
//   - "suggested articles" above the reply box: articles about what the
//     customer of the open conversation wrote, each with "insert", which
//     puts the article's plain text into the reply box.
//
// It works through app.js's SwitchboardInbox (api, t, errorText, current)
// and watches the page for the rest: the app frame shown or hidden (a
// login, a logout), the open conversation and its messages, the page's
// language.
//
// Security rule of this file, as of app.js: text from the API reaches the
// page only through textContent, text nodes or attribute values set by
// name; nothing is ever parsed as HTML. Markdown is drawn by a tiny
// renderer that builds elements (md); a link keeps its href only for
// http(s). No inline styles (the page's CSP forbids them).
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  const inbox = () => globalThis.SwitchboardInbox || null;
  const t = (key, params) => (inbox() ? inbox().t(key, params) : key);
  const api = (method, path, body) => inbox().api(method, path, body);
  const errorText = (e) => (inbox() ? inbox().errorText(e) : String(e));
  const str = (v) => (typeof v === "string" ? v : v == null ? "" : String(v));
  const list = (v) => (Array.isArray(v) ? v : []);

  // h builds an element; it never parses HTML (app.js's, the inbox's one).
  const h = (tag, props, ...kids) => globalThis.SwitchboardInbox.h(tag, props, ...kids);

  // ---------- state
  const K = {
    me: null, meReq: null,
    // the knowledge-base view
    open: false, tab: "articles", q: "", items: [], loading: false, seq: 0, sel: "", edit: null,
    busy: false, formErr: "", listErr: "", confirm: "", confirmTimer: 0, searchTimer: 0,
    // canned replies for the picker
    canned: null, cannedAt: 0, cannedReq: null,
    pick: { open: false, slash: -1, query: "", index: 0, items: [] },
    // suggestions for the open conversation
    sugg: { conv: "", items: [], seq: 0, collapsed: false, expanded: new Set(), inbound: -1 },
    caret: null, // the reply box's selection when it lost the focus
    status: "", statusTimer: 0,
  };
  const CANNED_TTL = 60000;
  const PICK_MAX = 8;
  const canWrite = () => !!(K.me && (K.me.role === "supervisor" || K.me.role === "admin"));
  const openConvId = () => {
    const c = inbox() && inbox().current();
    return c && typeof c.id === "string" && !$("composer").hidden ? c.id : "";
  };

  // ---------- Markdown, drawn safely
  // md turns Markdown into elements: headings, paragraphs, lists, quotes,
  // code blocks and rules; inline code, bold, italics and links. What it
  // does not know is shown as written.
  function md(src) {
    const frag = document.createDocumentFragment();
    let para = null, lst = null, code = null;
    const flush = () => { para = null; lst = null; };
    for (const line of str(src).replace(/\r\n?/g, "\n").split("\n")) {
      if (code) {
        if (/^\s*(```|~~~)/.test(line)) code = null;
        else code.append(line + "\n");
        continue;
      }
      const tr = line.trim();
      let m;
      if (/^(```|~~~)/.test(tr)) {
        flush();
        code = h("code");
        frag.append(h("pre", { class: "kb-code" }, code));
      } else if (!tr) {
        flush();
      } else if ((m = /^(#{1,6})\s+(.*?)(?:\s+#+)?$/.exec(tr))) {
        flush();
        frag.append(h("h" + Math.min(6, m[1].length + 3), { class: "kb-h" }, ...inline(m[2])));
      } else if (/^([-*_])(\s*\1){2,}$/.test(tr)) {
        flush();
        frag.append(h("hr"));
      } else if ((m = /^(?:[-*+]|(\d{1,9})[.)])\s+(?:\[[ xX]\]\s+)?(.*)$/.exec(tr))) {
        const kind = m[1] ? "ol" : "ul";
        if (!lst || lst.tagName.toLowerCase() !== kind) { lst = h(kind); frag.append(lst); }
        lst.append(h("li", null, ...inline(m[2])));
        para = null;
      } else if ((m = /^>\s?(.*)$/.exec(tr))) {
        flush();
        frag.append(h("blockquote", null, ...inline(m[1])));
      } else {
        lst = null;
        if (!para) { para = h("p"); frag.append(para); } else para.append(h("br"));
        para.append(...inline(tr));
      }
    }
    return frag;
  }

  const INLINE = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|!?\[([^\]]*)\]\(([^)\s]*)(?:\s+"[^"]*")?\)/g;
  function inline(s) {
    const out = [];
    let last = 0;
    s = str(s);
    for (const m of s.matchAll(INLINE)) {
      if (m.index > last) out.push(document.createTextNode(s.slice(last, m.index)));
      if (m[1] != null) out.push(h("code", { text: m[1] }));
      else if (m[2] != null) out.push(h("strong", { text: m[2] }));
      else if (m[3] != null) out.push(h("em", { text: m[3] }));
      else if (/^https?:\/\//i.test(m[5]) && !m[0].startsWith("!")) {
        out.push(h("a", { href: m[5], target: "_blank", rel: "noopener noreferrer", text: m[4] || m[5] }));
      } else out.push(document.createTextNode(m[4]));
      last = m.index + m[0].length;
    }
    if (last < s.length) out.push(document.createTextNode(s.slice(last)));
    return out;
  }

  // ---------- the frame: built once, into app.js's page
  function build() {
    const top = document.querySelector(".topbar");
    if (!top || $("kb-toggle")) return;
    const before = $("dashboard-toggle") || $("quarantine-toggle") || $("lang-switch");
    top.insertBefore(h("button", { id: "kb-toggle", type: "button", class: "btn btn-ghost", "aria-pressed": "false",
      "aria-controls": "kb-view", data: { i18n: "kb.open" }, hidden: true }), before);

    $("app").append(h("section", { id: "kb-view", class: "kb", "aria-labelledby": "kb-title", hidden: true },
      h("header", { class: "kb-head" },
        h("h2", { id: "kb-title", class: "kb-title", data: { i18n: "kb.title" } }),
        h("div", { class: "kb-tabs", role: "tablist" },
          h("button", { id: "kb-tab-articles", type: "button", role: "tab", class: "kb-tab", data: { tab: "articles", i18n: "kb.articles" } }),
          h("button", { id: "kb-tab-canned", type: "button", role: "tab", class: "kb-tab", data: { tab: "canned", i18n: "kb.canned" } })),
        h("span", { id: "kb-view-status", class: "kb-view-status", role: "status" }),
        h("span", { class: "spacer" }),
        h("button", { id: "kb-new", type: "button", class: "btn btn-primary btn-sm", hidden: true }),
        h("button", { id: "kb-close", type: "button", class: "btn btn-sm", data: { i18n: "kb.back" } })),
      h("p", { id: "kb-readonly", class: "kb-help", data: { i18n: "kb.readonly" }, hidden: true }),
      h("div", { class: "kb-body" },
        h("div", { class: "kb-listpane" },
          h("form", { id: "kb-search-form", class: "kb-search", role: "search" },
            h("input", { id: "kb-search", type: "search", autocomplete: "off", data: { i18nPlaceholder: "kb.search", i18nAria: "kb.search" } })),
          h("ul", { id: "kb-list", class: "kb-list" }),
          h("p", { id: "kb-list-note", class: "kb-empty", hidden: true })),
        h("div", { id: "kb-detail", class: "kb-detail" }))));

    const composer = $("composer");
    composer.parentNode.insertBefore(h("section", { id: "kb-suggest", class: "kb-suggest", "aria-labelledby": "kb-suggest-head", hidden: true }), composer);
    composer.append(h("div", { id: "kb-picker", class: "kb-picker", hidden: true },
      h("input", { id: "kb-picker-search", type: "search", autocomplete: "off", data: { i18nPlaceholder: "canned.search", i18nAria: "canned.search" } }),
      h("ul", { id: "kb-picker-list", class: "kb-pick-list", role: "listbox", data: { i18nAria: "canned.title" } })));
    composer.append(h("p", { id: "kb-status", class: "kb-status", role: "alert", hidden: true }));
    const bar = composer.querySelector(".composer-bar");
    bar.insertBefore(h("button", { id: "kb-canned-button", type: "button", class: "btn btn-ghost btn-sm", "aria-haspopup": "listbox",
      "aria-controls": "kb-picker", "aria-expanded": "false", data: { i18n: "canned.button" } }), $("composer-hint"));
  }

  // translate sets the texts of the elements this file made that name a
  // dictionary key (app.js does the same for the page when it renders).
  function translate() {
    for (const el of document.querySelectorAll("#kb-view [data-i18n], #kb-toggle, #kb-canned-button, #kb-picker [data-i18n-placeholder]")) {
      if (el.dataset.i18n) el.textContent = t(el.dataset.i18n);
      if (el.dataset.i18nPlaceholder) el.placeholder = t(el.dataset.i18nPlaceholder);
    }
    for (const el of document.querySelectorAll("#kb-view [data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
    for (const el of document.querySelectorAll("#kb-view [data-i18n-aria], #kb-picker [data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
    const btn = $("kb-canned-button");
    if (btn) btn.title = t("canned.hint");
  }

  function renderAll() {
    translate();
    renderFrame();
    renderSuggest();
    renderPicker();
    renderStatus();
  }

  // ---------- who is signed in
  // The app frame shows after a login and hides at a logout.
  function onFrame() {
    if ($("app").hidden) { reset(); return; }
    if (!K.me && !K.meReq) loadMe();
  }

  async function loadMe() {
    const ib = inbox();
    if (!ib) return;
    K.meReq = (async () => {
      try {
        const r = await api("GET", "/me");
        K.me = r && r.agent && typeof r.agent === "object" ? r.agent : null;
      } catch (_) {
        K.me = null; // signed out meanwhile: the next login asks again
      } finally {
        K.meReq = null;
      }
      renderAll();
      checkConversation();
    })();
  }

  function reset() {
    K.me = null;
    if (K.open) closeView();
    K.items = [];
    K.sel = "";
    K.edit = null;
    K.q = "";
    K.seq++;
    K.canned = null;
    K.cannedAt = 0;
    closePicker();
    K.sugg = { conv: "", items: [], seq: K.sugg.seq + 1, collapsed: K.sugg.collapsed, expanded: new Set(), inbound: -1 };
    K.caret = null;
    renderAll();
  }

  // ---------- the knowledge-base view
  function openView() {
    if (!K.me) return;
    // One view at a time: the quarantine and the dashboard close.
    if ($("quarantine-view") && !$("quarantine-view").hidden && $("quarantine-close")) $("quarantine-close").click();
    const dash = $("dashboard-toggle");
    if (dash && dash.getAttribute("aria-pressed") === "true") dash.click();
    K.open = true;
    closePicker();
    renderFrame();
    loadList();
    $("kb-search").focus();
  }

  function closeView() {
    K.open = false;
    K.confirm = "";
    renderFrame();
  }

  function renderFrame() {
    const btn = $("kb-toggle");
    if (!btn) return;
    btn.hidden = !K.me;
    if (!K.me) K.open = false;
    btn.setAttribute("aria-pressed", K.open ? "true" : "false");
    btn.classList.toggle("on", K.open);
    document.body.classList.toggle("kb-open", K.open);
    $("kb-view").hidden = !K.open;
    if (!K.open) return;
    for (const b of document.querySelectorAll("#kb-view .kb-tabs .kb-tab")) {
      const on = b.dataset.tab === K.tab;
      b.classList.toggle("on", on);
      b.setAttribute("aria-selected", on ? "true" : "false");
    }
    const nb = $("kb-new");
    nb.hidden = !canWrite();
    nb.textContent = t(K.tab === "articles" ? "kb.newArticle" : "kb.newCanned");
    $("kb-readonly").hidden = canWrite();
    renderList();
    renderDetail();
  }

  function setTab(tab) {
    if (tab === K.tab) return;
    K.tab = tab;
    K.items = [];
    K.sel = "";
    K.edit = null;
    K.confirm = "";
    renderFrame();
    loadList();
  }

  async function loadList() {
    const seq = ++K.seq;
    const q = K.q.trim();
    const params = new URLSearchParams();
    if (q) params.set("q", q);
    let path;
    if (K.tab === "articles") {
      params.set("limit", q ? "50" : "200");
      path = "/kb/articles?" + params;
    } else {
      params.set("limit", "500");
      path = "/kb/canned?" + params;
    }
    K.loading = true;
    K.listErr = "";
    renderList();
    try {
      const r = await api("GET", path);
      if (seq !== K.seq) return;
      K.items = list(r && r.items).filter((x) => x && typeof x.id === "string");
    } catch (e) {
      if (seq !== K.seq) return;
      K.items = [];
      K.listErr = errorText(e);
    } finally {
      if (seq === K.seq) { K.loading = false; renderList(); renderDetail(); }
    }
  }

  const selected = () => K.items.find((x) => x.id === K.sel) || null;

  function langName(l) {
    if (!l) return t("kb.lang.any");
    const key = "kb.lang." + l;
    const v = t(key);
    return v === key ? l : v;
  }
  function when(ts) {
    const d = new Date(ts);
    if (!ts || isNaN(d)) return "";
    return new Intl.DateTimeFormat(document.documentElement.lang || undefined, { dateStyle: "medium", timeStyle: "short" }).format(d);
  }

  function renderList() {
    const ul = $("kb-list");
    if (!ul || !K.open) return;
    ul.replaceChildren(...K.items.map((x) => {
      const meta = h("div", { class: "kb-item-meta" }, h("span", { class: "pill" }, langName(x.lang)));
      if (K.tab === "canned" && x.shortcut) meta.append(h("span", { class: "kb-shortcut" }, "/" + str(x.shortcut)));
      for (const tag of list(x.tags).slice(0, 4)) meta.append(h("span", { class: "kb-tag" }, str(tag)));
      const sub = K.tab === "articles" ? (x.snippet || str(x.text).slice(0, 120)) : str(x.body).slice(0, 120);
      return h("li", { class: "kb-item" + (x.id === K.sel ? " on" : ""), data: { id: x.id }, role: "button", tabindex: "0",
        "aria-current": x.id === K.sel ? "true" : null },
        h("div", { class: "kb-item-title" }, str(x.title)), meta, sub ? h("div", { class: "kb-item-sub" }, sub) : null);
    }));
    const note = $("kb-list-note");
    let text = "";
    if (K.loading && !K.items.length) text = t("kb.loading");
    else if (K.listErr) text = K.listErr;
    else if (!K.items.length) text = K.q.trim() ? t("kb.noResults") : t(K.tab === "articles" ? "kb.noArticles" : "kb.noCanned");
    note.hidden = !text;
    note.textContent = text;
    note.classList.toggle("kb-error", !!K.listErr);
  }

  function renderDetail() {
    const box = $("kb-detail");
    if (!box || !K.open) return;
    if (K.edit) { box.replaceChildren(editForm()); return; }
    const x = selected();
    if (!x) { box.replaceChildren(h("p", { class: "kb-empty" }, t("kb.pick"))); return; }
    const meta = h("div", { class: "kb-detail-meta" }, h("span", { class: "pill" }, langName(x.lang)));
    if (K.tab === "canned" && x.shortcut) meta.append(h("span", { class: "kb-shortcut" }, "/" + str(x.shortcut)));
    for (const tag of list(x.tags)) meta.append(h("span", { class: "kb-tag" }, str(tag)));
    const by = x.updated_by ? (inbox() && inbox().agentName ? inbox().agentName(x.updated_by) : x.updated_by) : "";
    meta.append(h("span", { class: "kb-when" }, t(by ? "kb.updatedBy" : "kb.updated", { time: when(x.updated_at), who: by })));
    const body = K.tab === "articles" ? h("div", { class: "kb-md" }, md(x.body)) : h("div", { class: "kb-canned-body" }, str(x.body));
    const actions = h("div", { class: "kb-actions" });
    if (canWrite()) {
      const confirming = K.confirm === x.id;
      actions.append(
        h("button", { id: "kb-edit", type: "button", class: "btn btn-sm", disabled: K.busy }, t("kb.edit")),
        h("button", { id: "kb-delete", type: "button", class: "btn btn-sm" + (confirming ? " kb-confirm" : ""), disabled: K.busy },
          t(confirming ? "kb.confirmDelete" : "kb.delete")));
    }
    box.replaceChildren(h("article", { class: "kb-article", data: { id: x.id } },
      h("h3", { class: "kb-detail-title" }, str(x.title)), meta, actions, body,
      K.tab === "canned" ? h("p", { class: "kb-help" }, t("kb.placeholders")) : null));
  }

  function startEdit(x) {
    K.edit = x
      ? { id: x.id, title: str(x.title), body: str(x.body), lang: str(x.lang), tags: list(x.tags).join(", "), shortcut: str(x.shortcut) }
      : { id: "", title: "", body: "", lang: "", tags: "", shortcut: "" };
    K.formErr = "";
    K.confirm = "";
    renderDetail();
    $("kb-f-title").focus();
  }

  function editForm() {
    const e = K.edit;
    const field = (id, label, input) => h("label", { class: "kb-field", for: id }, h("span", { class: "kb-label" }, label), input);
    const langSel = h("select", { id: "kb-f-lang" },
      ...["", "zh", "en"].map((l) => h("option", { value: l, selected: l === e.lang }, langName(l))));
    const canned = K.tab === "canned";
    return h("form", { id: "kb-form", class: "kb-form", novalidate: "" },
      h("h3", { class: "kb-detail-title" }, t(e.id ? (canned ? "kb.editCanned" : "kb.editArticle") : (canned ? "kb.newCanned" : "kb.newArticle"))),
      field("kb-f-title", t("kb.field.title"), h("input", { id: "kb-f-title", type: "text", maxlength: "200", value: e.title, required: true })),
      h("div", { class: "kb-field-row" },
        field("kb-f-lang", t("kb.field.lang"), langSel),
        canned ? field("kb-f-shortcut", t("kb.field.shortcut"), h("input", { id: "kb-f-shortcut", type: "text", maxlength: "33", value: e.shortcut, placeholder: "/hello" })) : null,
        field("kb-f-tags", t("kb.field.tags"), h("input", { id: "kb-f-tags", type: "text", value: e.tags }))),
      field("kb-f-body", t(canned ? "kb.field.cannedBody" : "kb.field.body"), (() => {
        const ta = h("textarea", { id: "kb-f-body", rows: canned ? "6" : "14", required: true });
        ta.value = e.body;
        return ta;
      })()),
      canned ? h("p", { class: "kb-help" }, t("kb.placeholders")) : null,
      K.formErr ? h("p", { id: "kb-form-error", class: "kb-error", role: "alert" }, K.formErr) : null,
      h("div", { class: "kb-actions" },
        h("button", { id: "kb-save", type: "submit", class: "btn btn-primary btn-sm", disabled: K.busy }, t(K.busy ? "kb.saving" : "kb.save")),
        h("button", { id: "kb-cancel", type: "button", class: "btn btn-sm", disabled: K.busy }, t("kb.cancel"))));
  }

  // readForm keeps what was typed, so a re-render (a language switch, an
  // error) does not lose it.
  function readForm() {
    if (!K.edit || !$("kb-form")) return;
    const v = (id) => ($(id) ? $(id).value : "");
    Object.assign(K.edit, { title: v("kb-f-title"), body: v("kb-f-body"), lang: v("kb-f-lang"), tags: v("kb-f-tags"),
      shortcut: v("kb-f-shortcut") });
  }

  async function save() {
    if (K.busy || !K.edit) return;
    readForm();
    const e = K.edit;
    const body = { title: e.title, body: e.body, lang: e.lang, tags: e.tags.split(/[,，、]/).map((s) => s.trim()).filter(Boolean) };
    if (K.tab === "canned") body.shortcut = e.shortcut;
    const base = K.tab === "articles" ? "/kb/articles" : "/kb/canned";
    K.busy = true;
    K.formErr = "";
    renderDetail();
    try {
      const saved = await api(e.id ? "PUT" : "POST", e.id ? base + "/" + enc(e.id) : base, body);
      K.edit = null;
      K.sel = saved && saved.id ? saved.id : "";
      K.canned = null; // the picker reads them again
      flash(t("kb.saved"));
      await loadList();
    } catch (err) {
      K.formErr = errorText(err);
    } finally {
      K.busy = false;
      renderDetail();
    }
  }

  async function remove(x) {
    if (K.busy) return;
    if (K.confirm !== x.id) {
      K.confirm = x.id;
      clearTimeout(K.confirmTimer);
      K.confirmTimer = setTimeout(() => { K.confirm = ""; renderDetail(); }, 4000);
      renderDetail();
      return;
    }
    K.confirm = "";
    K.busy = true;
    renderDetail();
    try {
      await api("DELETE", (K.tab === "articles" ? "/kb/articles/" : "/kb/canned/") + enc(x.id));
      K.sel = "";
      K.canned = null;
      flash(t("kb.deleted"));
      await loadList();
    } catch (err) {
      K.listErr = errorText(err);
      renderList();
    } finally {
      K.busy = false;
      renderDetail();
    }
  }

  // ---------- the reply box
  // insert puts text into the reply box: in place of [from, to) when
  // given, else at the selection the box had when it lost the focus, else
  // at its end on a line of its own.
  function insert(text, from, to) {
    const ta = $("reply-text");
    if (!ta || ta.readOnly || $("composer").hidden) { flash(t("kb.cannotInsert")); return false; }
    const v = ta.value;
    let start, end;
    if (from != null) { start = from; end = to; }
    else if (document.activeElement === ta) { start = ta.selectionStart; end = ta.selectionEnd; }
    else if (K.caret && K.caret.value === v) { start = K.caret.start; end = K.caret.end; }
    else {
      start = end = v.length;
      if (v && !v.endsWith("\n")) text = "\n" + text;
    }
    ta.value = v.slice(0, start) + text + v.slice(end);
    const caret = start + text.length;
    ta.focus();
    ta.setSelectionRange(caret, caret);
    ta.dispatchEvent(new Event("input", { bubbles: true }));
    return true;
  }

  function flash(msg) {
    K.status = msg;
    clearTimeout(K.statusTimer);
    K.statusTimer = setTimeout(() => { K.status = ""; renderStatus(); }, 5000);
    renderStatus();
  }
  function renderStatus() {
    const p = $("kb-status");
    if (!p) return;
    p.hidden = !K.status || $("composer").hidden;
    p.textContent = K.status;
    const v = $("kb-view-status");
    if (v) v.textContent = K.status;
  }

  // ---------- canned replies in the reply box
  async function ensureCanned() {
    if (K.canned && Date.now() - K.cannedAt < CANNED_TTL) return K.canned;
    if (!K.cannedReq) {
      K.cannedReq = (async () => {
        try {
          const r = await api("GET", "/kb/canned?limit=2000");
          K.canned = list(r && r.items).filter((x) => x && typeof x.id === "string");
          K.cannedAt = Date.now();
        } catch (e) {
          if (!K.canned) K.canned = [];
          flash(errorText(e));
        } finally {
          K.cannedReq = null;
        }
      })();
    }
    await K.cannedReq;
    return K.canned;
  }

  // matches ranks the canned replies for what was typed: shortcuts that
  // start with it first, then those that hold it anywhere.
  function matches(query) {
    const q = query.toLowerCase().replace(/^\//, "");
    const all = K.canned || [];
    if (!q) return all.slice(0, PICK_MAX);
    const first = [], then = [];
    for (const x of all) {
      const sc = str(x.shortcut).toLowerCase();
      if (sc.startsWith(q)) first.push(x);
      else if ((sc + "\n" + str(x.title) + "\n" + str(x.body)).toLowerCase().includes(q)) then.push(x);
    }
    return first.concat(then).slice(0, PICK_MAX);
  }

  async function openPicker(slash, query) {
    if (!openConvId()) return;
    const p = K.pick;
    p.open = true;
    p.slash = slash;
    p.query = query;
    p.index = 0;
    renderPicker();
    await ensureCanned();
    if (!p.open) return;
    p.items = matches(p.query);
    renderPicker();
  }

  function closePicker() {
    const p = K.pick;
    if (!p.open) return;
    p.open = false;
    p.slash = -1;
    p.items = [];
    renderPicker();
  }

  function renderPicker() {
    const box = $("kb-picker");
    if (!box) return;
    const p = K.pick;
    box.hidden = !p.open;
    $("kb-canned-button").setAttribute("aria-expanded", p.open ? "true" : "false");
    const search = $("kb-picker-search");
    search.hidden = p.slash >= 0; // typed into the reply box instead
    if (!p.open) return;
    if (search.value !== p.query && p.slash < 0) search.value = p.query;
    const ul = $("kb-picker-list");
    if (!K.canned) { ul.replaceChildren(h("li", { class: "kb-pick-note" }, t("kb.loading"))); return; }
    if (!p.items.length) { ul.replaceChildren(h("li", { class: "kb-pick-note" }, t(K.canned.length ? "canned.noMatch" : "canned.empty"))); return; }
    p.index = Math.min(p.index, p.items.length - 1);
    ul.replaceChildren(...p.items.map((x, i) => h("li", { class: "kb-pick-item" + (i === p.index ? " on" : ""), role: "option",
      "aria-selected": i === p.index ? "true" : "false", data: { id: x.id } },
      h("span", { class: "kb-pick-head" },
        x.shortcut ? h("span", { class: "kb-shortcut" }, "/" + str(x.shortcut)) : null,
        h("span", { class: "kb-pick-title" }, str(x.title))),
      h("span", { class: "kb-pick-body" }, str(x.body).slice(0, 80)))));
  }

  async function choose(x) {
    const p = K.pick;
    const slash = p.slash;
    const conv = openConvId();
    const ta = $("reply-text");
    const to = ta.selectionEnd;
    closePicker();
    if (!x || !conv) return;
    let text;
    try {
      const r = await api("GET", "/kb/canned/" + enc(x.id) + "/render?conversation=" + enc(conv));
      text = str(r && r.text);
    } catch (e) {
      flash(errorText(e));
      return;
    }
    if (openConvId() !== conv) return; // another conversation meanwhile
    if (slash >= 0 && ta.value.charAt(slash) === "/" && to >= slash && to <= ta.value.length) insert(text, slash, to);
    else insert(text);
  }

  // onReplyInput opens the picker while "/" and a shortcut are typed at
  // the start of the box or after a space.
  function onReplyInput() {
    const ta = $("reply-text");
    const upto = ta.value.slice(0, ta.selectionStart);
    const m = /(^|\s)\/([^\s/]{0,32})$/.exec(upto);
    if (m && ta.selectionStart === ta.selectionEnd) {
      const at = upto.length - m[2].length - 1;
      if (K.pick.open && K.pick.slash === at) {
        K.pick.query = m[2];
        K.pick.items = matches(m[2]);
        K.pick.index = 0;
        renderPicker();
      } else openPicker(at, m[2]);
    } else if (K.pick.open && K.pick.slash >= 0) closePicker();
  }

  // pickerKeys moves through the picker and chooses; it answers whether
  // it took the key.
  function pickerKeys(e) {
    const p = K.pick;
    if (!p.open || e.isComposing) return false;
    switch (e.key) {
      case "ArrowDown": p.index = Math.min(p.index + 1, Math.max(0, p.items.length - 1)); renderPicker(); return true;
      case "ArrowUp": p.index = Math.max(0, p.index - 1); renderPicker(); return true;
      case "Enter":
      case "Tab":
        if (!p.items.length) return false;
        choose(p.items[p.index]);
        return true;
      case "Escape": closePicker(); return true;
    }
    return false;
  }

  // ---------- suggested articles
  // checkConversation follows the open conversation and its messages
  // from the customer (app.js draws them into #thread).
  function checkConversation() {
    const id = K.me ? openConvId() : "";
    const inbound = document.querySelectorAll("#thread .message-in").length;
    const s = K.sugg;
    if (id !== s.conv) {
      K.sugg = { conv: id, items: [], seq: s.seq + 1, collapsed: s.collapsed, expanded: new Set(), inbound };
      closePicker();
      if (id) loadSuggestions();
      renderSuggest();
    } else if (id && inbound !== s.inbound) {
      s.inbound = inbound;
      loadSuggestions();
    }
    renderStatus();
  }

  async function loadSuggestions() {
    const s = K.sugg;
    const seq = ++s.seq;
    try {
      const r = await api("GET", "/conversations/" + enc(s.conv) + "/suggestions?limit=5");
      if (seq !== K.sugg.seq) return;
      s.items = list(r && r.items).filter((x) => x && typeof x.id === "string");
    } catch (_) {
      if (seq !== K.sugg.seq) return;
      s.items = []; // no knowledge base, or the conversation went: nothing to suggest
    }
    renderSuggest();
  }

  function renderSuggest() {
    const box = $("kb-suggest");
    if (!box) return;
    const s = K.sugg;
    box.hidden = !s.conv || !s.items.length;
    if (box.hidden) { box.replaceChildren(); return; }
    const head = h("button", { id: "kb-suggest-head", type: "button", class: "kb-suggest-head", "aria-expanded": s.collapsed ? "false" : "true" },
      h("span", { class: "kb-suggest-title" }, t("suggest.title")), h("span", { class: "kb-count" }, String(s.items.length)),
      h("span", { class: "kb-chevron", "aria-hidden": "true" }, s.collapsed ? "▸" : "▾"));
    const ul = h("ul", { class: "kb-sugg-list", hidden: s.collapsed });
    for (const x of s.items) {
      const open = s.expanded.has(x.id);
      ul.append(h("li", { class: "kb-sugg-item", data: { id: x.id } },
        h("div", { class: "kb-sugg-row" },
          h("button", { type: "button", class: "kb-sugg-title btn-link", "aria-expanded": open ? "true" : "false", data: { act: "toggle" } }, str(x.title)),
          h("button", { type: "button", class: "btn btn-sm kb-insert", data: { act: "insert" }, title: t("suggest.insertTitle") }, t("suggest.insert"))),
        open ? h("div", { class: "kb-md kb-sugg-body" }, md(x.body)) : (x.snippet ? h("p", { class: "kb-sugg-snippet" }, str(x.snippet)) : null)));
    }
    box.replaceChildren(head, ul);
  }

  // ---------- wiring
  function wire() {
    $("kb-toggle").addEventListener("click", () => (K.open ? closeView() : openView()));
    $("kb-close").addEventListener("click", closeView);
    for (const id of ["quarantine-toggle", "dashboard-toggle"]) {
      const b = $(id);
      if (b) b.addEventListener("click", () => { if (K.open) closeView(); });
    }
    for (const b of document.querySelectorAll("#kb-view .kb-tabs .kb-tab")) b.addEventListener("click", () => setTab(b.dataset.tab));
    $("kb-new").addEventListener("click", () => startEdit(null));
    $("kb-search-form").addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(K.searchTimer); K.q = $("kb-search").value; loadList(); });
    $("kb-search").addEventListener("input", (e) => {
      K.q = e.target.value;
      clearTimeout(K.searchTimer);
      K.searchTimer = setTimeout(loadList, 250);
    });
    const pickItem = (e) => {
      const li = e.target.closest(".kb-item");
      if (!li) return;
      readForm();
      K.sel = li.dataset.id;
      K.edit = null;
      K.confirm = "";
      renderList();
      renderDetail();
    };
    $("kb-list").addEventListener("click", pickItem);
    $("kb-list").addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pickItem(e); } });
    $("kb-detail").addEventListener("click", (e) => {
      if (e.target.closest("#kb-edit")) startEdit(selected());
      else if (e.target.closest("#kb-delete")) { const x = selected(); if (x) remove(x); }
      else if (e.target.closest("#kb-cancel")) { K.edit = null; K.formErr = ""; renderDetail(); }
    });
    $("kb-detail").addEventListener("submit", (e) => { e.preventDefault(); save(); });
    $("kb-detail").addEventListener("input", readForm);
    // While the view is open the inbox's keys (j, k, r, n, /, Enter) stay
    // away from the hidden conversation list: keys in the view stop at the
    // view, others before they reach anything. Escape leaves a field, or
    // else the view.
    document.addEventListener("keydown", (e) => {
      if (!K.open || e.isComposing) return;
      const inView = e.target instanceof Element && !!e.target.closest("#kb-view");
      if (e.key === "Escape") {
        const tag = e.target && e.target.tagName;
        if (inView && (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT")) e.target.blur();
        else closeView();
      }
      if (!inView) e.stopPropagation();
    }, true);
    $("kb-view").addEventListener("keydown", (e) => { if (K.open) e.stopPropagation(); });

    // The reply box.
    const ta = $("reply-text");
    ta.addEventListener("input", onReplyInput);
    ta.addEventListener("keydown", (e) => { if (pickerKeys(e)) { e.preventDefault(); e.stopPropagation(); } });
    ta.addEventListener("blur", () => { K.caret = { start: ta.selectionStart, end: ta.selectionEnd, value: ta.value }; });
    $("kb-canned-button").addEventListener("click", () => {
      if (K.pick.open) { closePicker(); return; }
      openPicker(-1, "");
      $("kb-picker-search").focus();
    });
    $("kb-picker-search").addEventListener("input", (e) => {
      K.pick.query = e.target.value;
      K.pick.items = matches(K.pick.query);
      K.pick.index = 0;
      renderPicker();
    });
    $("kb-picker-search").addEventListener("keydown", (e) => { if (pickerKeys(e)) { e.preventDefault(); e.stopPropagation(); } });
    // A press inside the picker must not blur the reply box first.
    $("kb-picker").addEventListener("mousedown", (e) => { if (e.target.closest(".kb-pick-item")) e.preventDefault(); });
    $("kb-picker-list").addEventListener("click", (e) => {
      const li = e.target.closest(".kb-pick-item");
      if (li) choose((K.canned || []).find((x) => x.id === li.dataset.id));
    });
    document.addEventListener("click", (e) => {
      if (K.pick.open && !e.target.closest("#kb-picker, #kb-canned-button, #reply-text")) closePicker();
    });

    // Suggestions.
    $("kb-suggest").addEventListener("click", (e) => {
      if (e.target.closest("#kb-suggest-head")) { K.sugg.collapsed = !K.sugg.collapsed; renderSuggest(); return; }
      const b = e.target.closest("[data-act]");
      const li = b && b.closest(".kb-sugg-item");
      const x = li && K.sugg.items.find((y) => y.id === li.dataset.id);
      if (!x) return;
      if (b.dataset.act === "insert") insert(str(x.text));
      else {
        if (K.sugg.expanded.has(x.id)) K.sugg.expanded.delete(x.id);
        else K.sugg.expanded.add(x.id);
        renderSuggest();
      }
    });

    // What app.js does: a login or logout, the open conversation and its
    // messages, the language.
    new MutationObserver(onFrame).observe($("app"), { attributes: true, attributeFilter: ["hidden"] });
    let soon = 0;
    const later = () => { clearTimeout(soon); soon = setTimeout(checkConversation, 200); };
    new MutationObserver(later).observe($("thread"), { childList: true });
    new MutationObserver(later).observe($("composer"), { attributes: true, attributeFilter: ["hidden"] });
    new MutationObserver(() => { readForm(); renderAll(); }).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
  }

  function boot() {
    if (!$("app") || !$("composer") || !$("thread")) return;
    build();
    wire();
    renderAll();
    onFrame();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
