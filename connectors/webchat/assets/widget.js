/* Switchboard web chat widget. Embed:
   <script src="https://gw.example.com/webchat/SITE/widget.js" async></script>
   Options: data-lang="zh|en", data-title, data-color="#rrggbb", data-open="true".
   Everything from the server is shown with textContent only. */
(function () {
  "use strict";
  var W = window, D = document, MAX = 4000;
  if (W.SwitchboardWebchat || D.getElementById("switchboard-webchat")) return;

  function findScript() {
    var s = D.currentScript, all = D.getElementsByTagName("script"), i;
    if (s && /\/widget\.js/.test(s.src)) return s;
    for (i = all.length - 1; i >= 0; i--) if (/\/webchat\/.*\/widget\.js/.test(all[i].src || "")) return all[i];
  }
  var script = findScript(), url, m;
  try { url = new URL(script.src, location.href); m = /^(.*)\/webchat\/([^\/]+)\/widget\.js$/.exec(url.pathname); } catch (e) { /* no script */ }
  if (!m) return;
  var SITE = decodeURIComponent(m[2]), CH = url.origin + m[1] + "/channels/webchat/" + encodeURIComponent(SITE);

  function opt(n) { return (script.getAttribute("data-" + n) || "").trim(); }
  var lang = opt("lang") || navigator.language || "";
  var T = /^zh/i.test(lang) ? {
    title: "在线客服", ph: "输入消息…", send: "发送", connecting: "正在连接…", offline: "网络已断开，正在重试…",
    hello: "您好！请问有什么可以帮您？", err: "出错了，请稍后再试。", failed: "发送失败，点击重试", sending: "发送中…",
    tooLong: "消息太长了，最多 4000 字。", rate: "发送太频繁，请稍候再试。", open: "打开在线客服", close: "关闭",
    stars: function (n) { return n + " 星"; }, sep: "：", chosen: "您的评分：",
    csat: ["非常不满意", "非常满意"], nps: ["完全不可能", "非常可能"]
  } : {
    title: "Chat with us", ph: "Type a message…", send: "Send", connecting: "Connecting…", offline: "Offline, retrying…",
    hello: "Hi! How can we help?", err: "Something went wrong. Please try again later.", failed: "Not sent. Tap to retry",
    sending: "Sending…", tooLong: "Too long: 4000 characters at most.", rate: "Too many messages. Please wait a moment.",
    open: "Open chat", close: "Close",
    stars: function (n) { return n + (n === 1 ? " star" : " stars"); }, sep: ": ", chosen: "Your score: ",
    csat: ["Very dissatisfied", "Very satisfied"], nps: ["Not at all likely", "Extremely likely"]
  };
  var color = opt("color");
  if (!/^#([0-9a-f]{3}){1,2}$/i.test(color)) color = "#1f6feb";

  // ---- visitor id: localStorage, or memory when storage is blocked ----
  var store = null;
  try { store = W.localStorage; store.setItem("sb_t", "1"); store.removeItem("sb_t"); } catch (e) { store = null; }
  function sget(k) { try { return store && store.getItem(k); } catch (e) { return null; } }
  function sset(k, v) { try { if (store) store.setItem(k, v); } catch (e) { /* memory only */ } }
  function rand(n) {
    var A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", b = new Uint8Array(n), s = "", i;
    if (W.crypto && crypto.getRandomValues) crypto.getRandomValues(b); else for (i = 0; i < n; i++) b[i] = Math.random() * 256;
    for (i = 0; i < n; i++) s += A.charAt(b[i] & 63);
    return s;
  }
  var KEY = "sb_visitor_" + SITE, READ = "sb_read_" + SITE, HAS = "sb_thread_" + SITE;
  var vid = sget(KEY), hasThread = false;
  if (/^[\w-]{16,64}$/.test(vid || "")) hasThread = !!sget(HAS);
  else { vid = rand(32); sset(KEY, vid); }
  function q(after) { return "?visitor_id=" + encodeURIComponent(vid) + (after ? "&after=" + encodeURIComponent(after) : ""); }

  // ---- DOM (createElement + textContent only) ----
  function h(tag, cls, parent, text) {
    var e = D.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function attrs(e, a) { for (var k in a) e.setAttribute(k, a[k]); return e; }
  function icon(parent, cls, d) {
    var NS = "http://www.w3.org/2000/svg", s = attrs(D.createElementNS(NS, "svg"), { viewBox: "0 0 24 24", "aria-hidden": "true", "class": cls });
    s.appendChild(attrs(D.createElementNS(NS, "path"), { d: d }));
    parent.appendChild(s);
  }
  var rgb = parseInt(color.length === 4 ? color.replace(/\w/g, "$&$&") : color.slice(1), 16);
  var dark = ((rgb >> 16) * 299 + (rgb >> 8 & 255) * 587 + (rgb & 255) * 114) / 1000 < 165;
  var BTN = "border:0;margin:0;cursor:pointer;font:inherit;";
  var CSS = ":host{all:initial}*{box-sizing:border-box}" +
    ".sb-root{font:14px/1.45 -apple-system,BlinkMacSystemFont,'Segoe UI','PingFang SC','Microsoft YaHei',Roboto,Arial,sans-serif;color:#1f2328;text-align:left;-webkit-text-size-adjust:100%}" +
    ".sb-launcher{" + BTN + "position:fixed;right:20px;bottom:calc(20px + env(safe-area-inset-bottom,0px));z-index:2147483000;width:56px;height:56px;border-radius:50%;padding:0;background:var(--sb-c);color:var(--sb-on);box-shadow:0 6px 20px rgba(0,0,0,.24);display:flex;align-items:center;justify-content:center;-webkit-tap-highlight-color:transparent;transition:transform .15s}" +
    ".sb-launcher:hover{transform:scale(1.06)}.sb-launcher svg{width:28px;height:28px}" +
    "[aria-expanded=true] .sb-i-chat,[aria-expanded=false] .sb-i-down{display:none}" +
    ".sb-fill{fill:currentColor}.sb-line{fill:none;stroke:currentColor;stroke-width:2.2;stroke-linecap:round;stroke-linejoin:round}" +
    ".sb-badge{position:absolute;top:-3px;right:-3px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#e5484d;color:#fff;font:600 12px/18px sans-serif;border:2px solid #fff}" +
    ".sb-panel{position:fixed;right:20px;bottom:calc(90px + env(safe-area-inset-bottom,0px));z-index:2147483001;width:370px;height:600px;max-height:calc(100vh - 120px);display:flex;flex-direction:column;background:#fff;border-radius:16px;overflow:hidden;box-shadow:0 12px 48px rgba(0,0,0,.22);animation:sb-pop .18s ease-out}" +
    "[data-open=false],[hidden]{display:none!important}" +
    "@keyframes sb-pop{from{opacity:0;transform:translateY(12px)}}" +
    ".sb-head{display:flex;align-items:center;padding:12px 8px 12px 18px;background:var(--sb-c);color:var(--sb-on)}" +
    ".sb-title{flex:1;margin:0;font-size:16px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}" +
    ".sb-close{" + BTN + "width:36px;height:36px;border-radius:8px;background:none;color:inherit;padding:6px}.sb-close:hover{background:rgba(127,127,127,.25)}.sb-close svg{display:block;width:100%;height:100%}" +
    ".sb-status,.sb-error{padding:5px 12px;font-size:12px;text-align:center;background:#ffe9e9;color:#a4161a}" +
    "[data-state=connected]{display:none}.sb-status[data-state=connecting]{background:#fff6dc;color:#6b4f00}" +
    ".sb-messages{flex:1;min-height:0;overflow-y:auto;-webkit-overflow-scrolling:touch;overscroll-behavior:contain;padding:16px 12px;background:#f4f5f7;display:flex;flex-direction:column;gap:6px}" +
    ".sb-msg{display:flex;flex-direction:column;max-width:82%;flex:none}" +
    ".sb-in{align-self:flex-end;align-items:flex-end}.sb-out,.sb-greeting{align-self:flex-start}" +
    ".sb-author{font-size:12px;color:#656d76;margin:6px 6px 2px}.sb-cont .sb-author{display:none}" +
    ".sb-text,.sb-greeting{padding:8px 12px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}" +
    ".sb-in .sb-text{background:var(--sb-c);color:var(--sb-on);border-bottom-right-radius:4px}" +
    ".sb-out .sb-text,.sb-greeting{background:#fff;border:1px solid #e3e6ea;border-bottom-left-radius:4px}" +
    ".sb-greeting{flex:none;max-width:82%}.sb-meta{font-size:11px;color:#8c959f;margin:2px 6px 0}" +
    ".sb-pending .sb-text{opacity:.65}.sb-failed .sb-text{opacity:.5}.sb-failed .sb-meta{color:#cf222e;cursor:pointer}" +
    ".sb-compose{display:flex;align-items:flex-end;gap:8px;padding:10px 10px calc(10px + env(safe-area-inset-bottom,0px));border-top:1px solid #e6e8eb}" +
    ".sb-input{flex:1;min-width:0;resize:none;border:1px solid #d0d7de;border-radius:12px;padding:9px 12px;margin:0;font:inherit;font-size:15px;line-height:20px;height:40px;max-height:120px;outline:none;color:inherit;background:#fff;-webkit-appearance:none}" +
    ".sb-input:focus{border-color:var(--sb-c)}" +
    ".sb-send{" + BTN + "height:40px;padding:0 16px;border-radius:12px;background:var(--sb-c);color:var(--sb-on);font-weight:600}.sb-send:disabled{opacity:.4;cursor:default}" +
    ".sb-count{font-size:11px;color:#8c959f;text-align:right;padding:4px 14px 0}.sb-over{color:#cf222e}" +
    ".sb-scores{display:flex;flex-wrap:wrap;gap:4px;margin-top:8px;white-space:normal}" +
    ".sb-score{" + BTN + "min-width:40px;height:44px;padding:0 6px;border-radius:10px;border:1px solid #d0d7de;background:#f6f8fa;color:#1f2328;font-size:16px;font-weight:600}" +
    ".sb-score:disabled{cursor:default}.sb-score:disabled:not(.sb-on){opacity:.5}" +
    ".sb-scores:not(.sb-stars) .sb-on{background:var(--sb-c);color:var(--sb-on);border-color:var(--sb-c)}" +
    ".sb-stars{gap:0}.sb-stars .sb-score{width:44px;padding:0;border-color:transparent;background:none;font-size:28px;line-height:1;color:#c4c9cf}" +
    ".sb-stars .sb-on,.sb-stars:not(.sb-done):hover .sb-score,.sb-stars:not(.sb-done):focus-within .sb-score{color:#f5a623}" +
    ".sb-stars:not(.sb-done) .sb-score:hover~.sb-score,.sb-stars:not(.sb-done) .sb-score:focus~.sb-score{color:#c4c9cf}" +
    ".sb-ends{display:flex;justify-content:space-between;gap:8px;margin-top:4px;font-size:11px;color:#656d76;white-space:normal}" +
    ".sb-chosen{margin-top:6px;font-size:12px;color:#656d76}" +
    "button:focus-visible{outline:3px solid #8ab4f8;outline-offset:2px}" +
    "@media (pointer:coarse){.sb-input{font-size:16px}}" + // 16px: no zoom-on-focus in iOS Safari
    "@media (max-width:479px){.sb-panel{top:0;left:0;right:0;bottom:0;width:auto;height:auto;max-height:none;border-radius:0}[data-open=true]~.sb-launcher{display:none}}" +
    "@media (prefers-reduced-motion:reduce){.sb-panel,.sb-launcher{animation:none;transition:none}}";

  var host = h("div"), hs = host.style, root;
  host.id = "switchboard-webchat";
  hs.setProperty("display", "block", "important");   // survive host-page rules such as div{display:none}
  hs.setProperty("transform", "none", "important");  // a transformed host would unpin position:fixed
  hs.setProperty("--sb-c", color);
  hs.setProperty("--sb-on", dark ? "#fff" : "#111");
  root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  try { // a constructed sheet is not blocked by a strict style-src CSP; <style> would be
    var sheet = new CSSStyleSheet(); sheet.replaceSync(CSS);
    if (!("adoptedStyleSheets" in root)) throw 0;
    root.adoptedStyleSheets = [sheet];
  } catch (e) { h("style", null, root, CSS); }

  var title = opt("title") || T.title, wrap = h("div", "sb-root", root);
  var panel = attrs(h("div", "sb-panel", wrap), { role: "dialog", "aria-label": title, "data-open": "false" });
  var head = h("div", "sb-head", panel);
  h("h2", "sb-title", head, title);
  var closeBtn = attrs(h("button", "sb-close", head), { type: "button", "aria-label": T.close });
  icon(closeBtn, "sb-line", "M6 6l12 12M18 6L6 18");
  var status = h("div", "sb-status", panel), errBar = attrs(h("div", "sb-error", panel), { role: "alert" });
  var list = attrs(h("div", "sb-messages", panel), { role: "log", "aria-live": "polite" });
  var counter = h("div", "sb-count", panel), compose = h("div", "sb-compose", panel);
  var input = attrs(h("textarea", "sb-input", compose), { rows: "1", placeholder: T.ph, "aria-label": T.ph });
  var sendBtn = attrs(h("button", "sb-send", compose, T.send), { type: "button" });
  var launcher = attrs(h("button", "sb-launcher", wrap), { type: "button", "aria-label": T.open, "aria-expanded": "false" });
  icon(launcher, "sb-fill sb-i-chat", "M5 3h14a3 3 0 0 1 3 3v9a3 3 0 0 1-3 3h-7l-5 4v-4H5a3 3 0 0 1-3-3V6a3 3 0 0 1 3-3z");
  icon(launcher, "sb-line sb-i-down", "M6 9l6 6 6-6");
  var badgeEl = h("span", "sb-badge", launcher), greet = h("div", "sb-greeting", null, T.hello);
  errBar.hidden = counter.hidden = badgeEl.hidden = sendBtn.disabled = true;

  // ---- state ----
  var isOpen = false, want = false, loaded = false, busy = false, lastId = "", unread = 0;
  var ws = null, wsOk = false, fails = 0, rtimer = 0, pingT = 0, lastRx = 0, polling = false, ptimer = 0, errT = 0;
  var seenId = {}, seenMsg = {}, pending = {}; // pending: client_id -> {el, text, timer, posting, failed}

  function state() { return status.getAttribute("data-state"); }
  function setState(s) {
    status.setAttribute("data-state", s);
    status.textContent = s === "offline" ? T.offline : s === "connecting" ? T.connecting : "";
  }
  function showError(code) {
    errBar.textContent = code === "too_large" ? T.tooLong : code === "rate_limited" ? T.rate : T.err;
    errBar.hidden = false;
    clearTimeout(errT); errT = setTimeout(function () { errBar.hidden = true; }, 6000);
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function when(iso) {
    var now = new Date(), d = new Date(iso || now);
    if (isNaN(d)) d = now;
    var t = pad(d.getHours()) + ":" + pad(d.getMinutes());
    return d.toDateString() === now.toDateString() ? t : (d.getMonth() + 1) + "/" + d.getDate() + " " + t;
  }
  function chars(s) { return s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, "_").length; } // code points

  function bubble(dir, text, author, at) {
    var el = h("div", "sb-msg sb-" + dir), prev = list.lastChild;
    if (author) {
      el.setAttribute("data-author", author);
      if (prev && prev.getAttribute && prev.getAttribute("data-author") === author) el.className += " sb-cont";
      h("div", "sb-author", el, author);
    }
    h("div", "sb-text", el, text);
    var meta = h("div", "sb-meta", el);
    h("span", "sb-time", meta, when(at));
    h("span", "sb-note", meta);
    return el;
  }
  function mark(el, st) {
    el.setAttribute("data-state", st);
    el.classList.toggle("sb-pending", st === "pending");
    el.classList.toggle("sb-failed", st === "failed");
    el.querySelector(".sb-note").textContent = st === "pending" ? " · " + T.sending : st === "failed" ? " · " + T.failed : "";
  }
  function toBottom() { list.scrollTop = list.scrollHeight; }
  function add(el, mine) {
    var stick = mine || list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    if (greet.parentNode) list.removeChild(greet);
    list.appendChild(el);
    if (stick) toBottom();
    if (!hasThread) { hasThread = true; sset(HAS, "1"); }
  }
  function greeting() { if (!list.querySelector(".sb-msg") && !greet.parentNode) list.appendChild(greet); }
  function badge() { badgeEl.textContent = unread > 99 ? "99+" : unread; badgeEl.hidden = !unread; }

  // A VisitorEvent, from history, polling or the socket; live ones may raise the unread badge.
  function onEvent(ev, live) {
    if (!ev || ev.type !== "message") return;
    if (ev.id) { if (seenId[ev.id]) return; seenId[ev.id] = 1; lastId = ev.id; }
    var mid = ev.message_id, dir = ev.direction, text = String(ev.text == null ? "" : ev.text);
    if ((dir !== "in" && dir !== "out") || (mid && seenMsg[mid])) return;
    if (dir === "in") for (var c in pending) { // the echo of our own message can beat its ack
      if (pending[c].el.parentNode === list && pending[c].text === text) return settle(c, mid);
    }
    if (mid) seenMsg[mid] = 1;
    var sv = dir === "out" ? surveyOf(ev.survey) : null;
    var el = bubble(dir, sv ? sv.question : text, dir === "out" && ev.author ? String(ev.author) : "", ev.created_at);
    if (mid) el.setAttribute("data-id", mid);
    if (sv) askSurvey(el, sv); else if (dir === "in") answered(text);
    add(el, false);
    if (isOpen) sset(READ, lastId);
    else if (dir === "out" && live) { unread++; badge(); }
  }
  // ---- satisfaction survey: a button per score (stars for 1–5); a tap
  // sends the score as an ordinary message, as if typed. The survey is
  // answered (its buttons disabled) by the visitor's next message, whose
  // score, if it is one, shows as chosen: after a reload too. ----
  var survey = null; // the latest survey still open: {row, btns, min, max, stars}
  function surveyOf(sv) {
    if (!sv || (sv.kind !== "csat" && sv.kind !== "nps")) return null;
    var min = sv.min, max = sv.max;
    if (min !== (min | 0) || max !== (max | 0) || min < 0 || max > 10 || min >= max) return null;
    return { kind: sv.kind, min: min, max: max, question: String(sv.question || "") };
  }
  function askSurvey(el, sv) {
    if (survey) answerSurvey(null); // an older survey is over
    var box = el.querySelector(".sb-text"), stars = sv.kind === "csat" && sv.max <= 5, ends = T[sv.kind], i, label, b;
    var row = attrs(h("div", "sb-scores" + (stars ? " sb-stars" : ""), box), { role: "group", "aria-label": sv.question });
    survey = { row: row, btns: [], min: sv.min, max: sv.max, stars: stars };
    for (i = sv.min; i <= sv.max; i++) {
      label = stars ? T.stars(i) : "" + i;
      if (i === sv.min || i === sv.max) label += T.sep + ends[i === sv.min ? 0 : 1];
      b = attrs(h("button", "sb-score", row, stars ? "\u2605" : "" + i), { type: "button", "aria-label": label, title: label, "data-score": "" + i });
      b.addEventListener("click", pick(i));
      survey.btns.push(b);
    }
    if (!stars) {
      var e = h("div", "sb-ends", box);
      h("span", null, e, sv.min + " = " + ends[0]); h("span", null, e, sv.max + " = " + ends[1]);
    }
  }
  function pick(n) { return function () { if (survey) sendText("" + n); }; }
  // answered closes the open survey with a visitor's message.
  function answered(text) {
    if (!survey) return;
    var t = text.replace(/[\uFF10-\uFF19]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) - 0xFEE0); });
    var n = /^\s*\d{1,2}\s*$/.test(t) ? parseInt(t, 10) : -1;
    answerSurvey(n >= survey.min && n <= survey.max ? n : null);
  }
  function answerSurvey(n) {
    var s = survey, i, v;
    survey = null;
    s.row.classList.add("sb-done");
    for (i = 0; i < s.btns.length; i++) {
      v = s.min + i;
      s.btns[i].disabled = true;
      s.btns[i].setAttribute("aria-pressed", "" + (v === n));
      if (n !== null && (s.stars ? v <= n : v === n)) s.btns[i].classList.add("sb-on");
    }
    if (n !== null) h("div", "sb-chosen", s.row.parentNode, T.chosen + n + (s.stars ? " / " + s.max : ""));
  }

  function settle(cid, mid) {
    var p = pending[cid];
    if (!p) return;
    clearTimeout(p.timer); delete pending[cid];
    if (mid && seenMsg[mid]) { // already on screen through another path: drop the duplicate
      if (p.el.getAttribute("data-id") !== mid && p.el.parentNode) p.el.parentNode.removeChild(p.el);
      return;
    }
    if (mid) { seenMsg[mid] = 1; p.el.setAttribute("data-id", mid); }
    mark(p.el, "sent");
  }
  function fail(cid, code) {
    var p = pending[cid];
    if (!p) return;
    clearTimeout(p.timer); p.failed = true;
    mark(p.el, "failed");
    if (code) showError(code); // a network failure already shows as offline
  }

  // ---- HTTP (XMLHttpRequest: works in every in-app browser) ----
  function http(method, u, body, cb) {
    var x = new XMLHttpRequest(), done = false;
    function fin(st) {
      if (done) return;
      done = true;
      var j = null;
      try { j = JSON.parse(x.responseText); } catch (e) { /* not JSON */ }
      cb(st, j, st && j && j.error ? j.error.code || "internal" : st >= 300 ? "internal" : "");
    }
    x.open(method, u, true);
    x.timeout = 15000;
    if (body) x.setRequestHeader("Content-Type", "application/json");
    x.onload = function () { fin(x.status); };
    x.onerror = x.ontimeout = x.onabort = function () { fin(0); };
    x.send(body ? JSON.stringify(body) : null);
  }
  function fetchEvents(after, live, cb) {
    http("GET", CH + "/messages" + q(after), null, function (st, j, code) {
      if (st !== 200 || !j) return cb(false, code);
      var items = j.items || [], read = sget(READ), counting = live;
      for (var i = 0; i < items.length; i++) {
        onEvent(items[i], counting);
        if (read && items[i].id === read) counting = true; // unread = agent replies after the last one seen
      }
      if (j.last_id) lastId = j.last_id;
      cb(true);
    });
  }
  function post(cid, n) {
    var p = pending[cid];
    if (!p || p.posting) return;
    p.posting = true;
    http("POST", CH + "/messages", { visitor_id: vid, text: p.text, client_id: cid }, function (st, j, code) {
      p.posting = false;
      if (!pending[cid]) return;
      if (st >= 200 && st < 300) return settle(cid, j && j.message_id);
      if ((!st || st >= 500 || st === 429) && n < 3) { // same client_id: the server counts it once
        p.timer = setTimeout(function () { post(cid, n + 1); }, 1500 * (n + 1));
        return;
      }
      fail(cid, code);
    });
  }
  function deliver(cid) {
    var p = pending[cid];
    if (!p) return;
    clearTimeout(p.timer); p.failed = false; mark(p.el, "pending");
    if (!wsOk) return post(cid, 0);
    try { ws.send(JSON.stringify({ type: "message", client_id: cid, text: p.text })); } catch (e) { /* POST below */ }
    p.timer = setTimeout(function () { post(cid, 0); }, 10000); // no ack in time: try HTTP
  }

  // ---- live connection: history first, then the socket; polling while the socket fails ----
  function connect() {
    clearTimeout(rtimer);
    if (!want || ws || busy) return;
    if (state() !== "connected") setState(fails ? "offline" : "connecting");
    if (!loaded) {
      busy = true;
      return fetchEvents("", false, function (ok, code) {
        busy = false;
        if (!ok) { if (code) showError(code); return retry(); }
        loaded = true; greeting(); badge(); connect();
      });
    }
    var s;
    try { s = new WebSocket(CH.replace(/^http/, "ws") + "/ws" + q(lastId)); } catch (e) { return retry(); }
    ws = s;
    s.onopen = function () {
      wsOk = true; fails = 0; polling = false; clearTimeout(ptimer); ptimer = 0;
      lastRx = Date.now(); setState("connected");
      clearInterval(pingT);
      pingT = setInterval(function () {
        if (Date.now() - lastRx > 60000) return drop(s); // silent: assume dead
        try { s.send('{"type":"ping"}'); } catch (e) { drop(s); }
      }, 25000);
      for (var c in pending) if (!pending[c].failed && !pending[c].posting) deliver(c);
    };
    s.onmessage = function (e) {
      lastRx = Date.now();
      var j = null;
      try { j = JSON.parse(e.data); } catch (x) { /* ignore */ }
      if (!j) return;
      if (j.type === "message") onEvent(j, true);
      else if (j.type === "ack") settle(j.client_id, j.message_id);
      else if (j.type === "resync") resync();
      else if (j.type === "error") {
        if (pending[j.client_id]) fail(j.client_id, j.code || "internal"); else showError(j.code);
      }
    };
    s.onclose = s.onerror = function () { drop(s); };
  }
  function drop(s) {
    if (ws !== s) return;
    s.onopen = s.onmessage = s.onclose = s.onerror = null;
    try { s.close(); } catch (e) { /* already closed */ }
    ws = null; wsOk = false; clearInterval(pingT);
    retry();
  }
  function retry() {
    fails++;
    if (!polling || state() !== "connected") setState("offline");
    if (fails >= 2 && !polling) { polling = true; schedulePoll(); } // socket blocked? use HTTP meanwhile
    clearTimeout(rtimer);
    rtimer = setTimeout(connect, Math.min(15000, 1000 * Math.pow(2, fails - 1) * (0.8 + Math.random() * 0.4)));
  }
  function schedulePoll() {
    if (!polling || !isOpen || !loaded || wsOk || ptimer) return;
    ptimer = setTimeout(function () {
      fetchEvents(lastId, true, function (ok) {
        ptimer = 0;
        if (!wsOk) setState(ok ? "connected" : "offline");
        schedulePoll();
      });
    }, 3000);
  }
  function resync() {
    var keep = [], c;
    for (c in pending) keep.push(pending[c].el);
    while (list.firstChild) list.removeChild(list.firstChild);
    seenId = {}; seenMsg = {}; lastId = ""; unread = 0; survey = null; // recounted from the last read id
    fetchEvents("", false, function () {
      badge();
      keep.forEach(function (el) { list.appendChild(el); });
      greeting(); toBottom();
    });
  }

  // ---- UI ----
  function refresh() {
    var n = chars(input.value), over = n > MAX;
    sendBtn.disabled = over || !/\S/.test(input.value);
    counter.hidden = n < MAX - 500;
    counter.textContent = (over ? T.tooLong + " " : "") + n + " / " + MAX;
    counter.classList.toggle("sb-over", over);
    input.style.height = "auto";
    input.style.height = Math.min(Math.max(input.scrollHeight + 2, 40), 120) + "px";
  }
  function send() {
    var text = input.value.replace(/^\s+|\s+$/g, "");
    if (!text) return;
    if (chars(text) > MAX) return showError("too_large");
    input.value = ""; refresh();
    sendText(text);
  }
  function sendText(text) {
    var cid = "c" + rand(23), el = bubble("in", text, "", null);
    el.setAttribute("data-client-id", cid);
    pending[cid] = { el: el, text: text };
    el.addEventListener("click", function () { if (pending[cid] && pending[cid].failed) deliver(cid); });
    add(el, true);
    answered(text);
    deliver(cid);
    want = true; connect();
  }
  var vv = W.visualViewport;
  function fit() { // keep the full-screen panel above the on-screen keyboard
    var ps = panel.style;
    if (vv && isOpen && W.innerWidth < 480) { ps.top = vv.offsetTop + "px"; ps.height = vv.height + "px"; ps.bottom = "auto"; }
    else ps.top = ps.height = ps.bottom = "";
  }
  function show(o) {
    isOpen = o;
    panel.setAttribute("data-open", "" + o); launcher.setAttribute("aria-expanded", "" + o);
    fit();
  }
  function open() {
    if (isOpen) return;
    show(true);
    unread = 0; badge();
    if (lastId) sset(READ, lastId);
    if (loaded || !hasThread) greeting();
    toBottom();
    want = true; connect(); schedulePoll();
    if (W.matchMedia && matchMedia("(pointer:fine)").matches) input.focus();
  }
  function close() {
    if (!isOpen) return;
    show(false);
    clearTimeout(ptimer); ptimer = 0;
  }

  launcher.addEventListener("click", function () { if (isOpen) close(); else open(); });
  closeBtn.addEventListener("click", function () { close(); launcher.focus(); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { close(); launcher.focus(); } });
  sendBtn.addEventListener("click", function () { send(); input.focus(); });
  input.addEventListener("input", refresh);
  input.addEventListener("keydown", function (e) { // not while an IME (pinyin…) is composing
    if (e.keyCode === 13 && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  if (vv) { vv.addEventListener("resize", fit); vv.addEventListener("scroll", fit); }
  W.addEventListener("resize", fit);
  function wake() { if (want && !ws && !busy && D.visibilityState !== "hidden") { fails = 0; connect(); } }
  W.addEventListener("online", wake);
  D.addEventListener("visibilitychange", wake);

  setState("connecting");
  function mount() {
    D.body.appendChild(host);
    if (opt("open") === "true") open();
    else if (hasThread) { want = true; connect(); } // show history, stay live for the unread badge
  }
  if (D.body) mount(); else D.addEventListener("DOMContentLoaded", mount);

  W.SwitchboardWebchat = { open: open, close: close, visitorId: vid };
})();
