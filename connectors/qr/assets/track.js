// QR tracking page: live updates. Without this script the page shows the
// thread as it was when loaded, and the refresh link reloads it; with it,
// new replies and the ticket's status appear by themselves (polling every
// few seconds while the page is visible). Text only ever goes in through
// textContent.
(function () {
  "use strict";
  const thread = document.getElementById("thread");
  if (!thread || !window.fetch) return;
  const url = thread.dataset.events;
  let last = thread.dataset.last || "";
  const number = document.getElementById("ticket-number");
  const status = document.getElementById("ticket-status");
  const seen = new Set(Array.from(thread.querySelectorAll("li[data-id]")).map((li) => li.dataset.id));

  function localTimes(root) {
    for (const t of root.querySelectorAll("time[datetime]")) {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) t.textContent = d.toLocaleString(document.documentElement.lang || undefined, { dateStyle: "short", timeStyle: "short" });
    }
  }

  function p(cls, text) {
    const el = document.createElement("p");
    el.className = cls;
    el.textContent = text;
    return el;
  }

  function item(it) {
    const li = document.createElement("li");
    li.className = "msg " + (it.direction === "out" ? "out" : "in");
    li.dataset.id = it.id;
    const who = p("who", it.who + " · ");
    const time = document.createElement("time");
    time.setAttribute("datetime", it.iso);
    time.textContent = it.when;
    who.append(time);
    li.append(who, p("text", it.text));
    for (const a of it.answers || []) li.append(p("answer", a.label + ": " + a.value));
    if (it.photos_text) li.append(p("photos", it.photos_text));
    if (it.survey) li.append(survey(it.survey));
    return li;
  }

  // A survey's score links, as the page renders them without script.
  function survey(sv) {
    const box = document.createElement("div");
    box.className = "survey";
    const scores = p("scores", "");
    for (const l of sv.links || []) {
      const a = document.createElement("a");
      a.href = l.url;
      a.rel = "nofollow";
      a.setAttribute("aria-label", l.label);
      a.textContent = String(l.score);
      scores.append(a);
    }
    const ends = p("ends", "");
    const low = document.createElement("span"), high = document.createElement("span");
    low.textContent = sv.low;
    high.textContent = sv.high;
    ends.append(low, high);
    box.append(p("survey-lead", sv.lead), scores, ends);
    return box;
  }

  // Only the latest reply's survey, while the ticket is resolved, takes
  // answers.
  function dropSurveys() {
    for (const el of thread.querySelectorAll(".survey")) el.remove();
  }

  async function poll() {
    if (document.hidden) return;
    const sep = url.includes("?") ? "&" : "?";
    let res;
    try {
      res = await fetch(url + (last ? sep + "after=" + encodeURIComponent(last) : ""), { cache: "no-store" });
    } catch (_) {
      return; // offline for a moment: the next poll tries again
    }
    if (!res.ok) return;
    const data = await res.json();
    if (data.state && data.state !== "resolved") dropSurveys();
    for (const it of data.items || []) {
      if (seen.has(it.id)) continue;
      seen.add(it.id);
      if (it.direction === "out") dropSurveys();
      const li = item(it);
      localTimes(li);
      thread.append(li);
    }
    if (data.last_id) last = data.last_id;
    if (number) number.textContent = data.number ? "#" + data.number : number.dataset.pending;
    if (status && data.status) status.textContent = data.status;
  }

  localTimes(thread);
  setInterval(poll, 4000);
  document.addEventListener("visibilitychange", poll);
})();
