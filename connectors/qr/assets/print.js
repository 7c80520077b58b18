// The printable sheet of QR codes. It signs in as the inbox does: the
// inbox's bearer token from this tab's sessionStorage ("sb.token"), else
// an e-mail and password sent to /api/v1/auth/login (the token is then
// kept in memory only). It lists the codes with GET /api/v1/qr/codes and
// lays out a card per enabled code. Text only ever goes in through
// textContent.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  let token = "";
  try { token = sessionStorage.getItem("sb.token") || ""; } catch (_) { /* storage disabled */ }
  let all = [];

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function showLogin(msg) {
    $("login").hidden = false;
    $("options").hidden = true;
    $("login-problem").textContent = msg || "";
  }

  async function api(path) {
    const res = await fetch(path, { headers: { Authorization: "Bearer " + token, Accept: "application/json" } });
    if (res.status === 401) throw Object.assign(new Error("unauthorized"), { status: 401 });
    if (!res.ok) {
      let msg = "HTTP " + res.status;
      try { msg = (await res.json()).error.message; } catch (_) { /* not JSON */ }
      throw Object.assign(new Error(msg), { status: res.status });
    }
    return res.json();
  }

  async function load() {
    const items = [];
    let cursor = "";
    for (;;) {
      const page = await api("/api/v1/qr/codes?limit=500" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      items.push(...(page.items || []));
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    return items.filter((c) => !c.disabled);
  }

  function render() {
    const site = $("site").value;
    const wechat = $("wechat").checked;
    const sheet = $("sheet");
    sheet.className = "sheet size-" + $("size").value;
    sheet.replaceChildren();
    let n = 0;
    for (const c of all) {
      const a = c.asset || {};
      if (site && a.site !== site) continue;
      if (wechat && !c.wechat_image_url) continue;
      const card = el("section", "card");
      card.dataset.code = c.code;
      const img = el("img");
      // Same-origin paths: the page's CSP allows images from here only.
      img.src = "/qr/" + encodeURIComponent(c.code) + (wechat ? "/wechat.png" : ".png") + "?size=600";
      img.alt = c.code;
      card.append(img, el("p", "call", wechat ? "微信扫码报修 · Scan in WeChat" : "扫码报修 · Scan to report a problem"));
      card.append(el("p", "name", a.name || ""));
      const meta = [a.serial, a.site].filter(Boolean).join(" · ");
      if (meta) card.append(el("p", "meta", meta));
      if (!wechat) card.append(el("p", "url", c.url));
      sheet.append(card);
      n++;
    }
    $("count").textContent = n + " 个二维码 · codes";
  }

  async function start() {
    if (!token) return showLogin();
    try {
      all = await load();
    } catch (e) {
      if (e.status === 401) return showLogin();
      $("problem").textContent = e.message;
      return;
    }
    const sites = [...new Set(all.map((c) => (c.asset || {}).site).filter(Boolean))].sort();
    const select = $("site");
    for (const s of sites) {
      const o = el("option", "", s);
      o.value = s;
      select.append(o);
    }
    const want = new URLSearchParams(location.search).get("site");
    if (want && sites.includes(want)) select.value = want;
    $("login").hidden = true;
    $("options").hidden = false;
    render();
  }

  $("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const res = await fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: $("email").value, password: $("password").value }),
    });
    if (!res.ok) return showLogin("登录失败 · Sign-in failed");
    token = (await res.json()).token || "";
    start();
  });
  for (const id of ["site", "size", "wechat"]) $(id).addEventListener("change", render);
  $("print").addEventListener("click", () => window.print());
  start();
})();
