// The fleet overview's live updates: rows re-rendered by the server arrive over server-sent
// events and replace their old selves in place. EventSource reconnects by itself; the banner
// says so while it does.
(function () {
  "use strict";
  var banner = document.getElementById("live-banner");
  var state = document.getElementById("live-state");
  function setState(s) {
    if (state) { state.dataset.state = s; state.textContent = s === "open" ? "live" : s === "lost" ? "reconnecting…" : "connecting…"; }
    if (banner) { banner.hidden = s !== "lost"; }
  }
  function ago(ms) {
    if (!ms) { return "never"; }
    var s = Math.max(0, (Date.now() - ms) / 1000);
    if (s < 5) { return "just now"; }
    if (s < 60) { return Math.floor(s) + " s ago"; }
    if (s < 3600) { return Math.floor(s / 60) + " min ago"; }
    if (s < 86400) { return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min ago"; }
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h ago";
  }
  function refreshAges() {
    document.querySelectorAll(".seen[data-ts]").forEach(function (el) {
      el.textContent = ago(Number(el.dataset.ts));
    });
  }
  window.hwLive = { updates: 0, rows: 0 };
  function level(el, cls) {
    el.classList.remove("warn", "crit");
    if (cls) { el.classList.add(cls); }
  }
  // The header's fleet score and firing-alert counts, as the server computed them.
  function summary(s) {
    var score = document.getElementById("fleet-score");
    if (score) {
      score.querySelector("b").textContent = s.score == null ? "—" : Math.round(s.score);
      level(score, s.score == null ? "" : s.score < 50 ? "crit" : s.score < 75 ? "warn" : "");
    }
    var crit = document.getElementById("fleet-critical");
    if (crit) { crit.querySelector("b").textContent = s.critical; level(crit, s.critical > 0 ? "crit" : ""); }
    var warn = document.getElementById("fleet-warning");
    if (warn) { warn.querySelector("b").textContent = s.warning; level(warn, s.warning > 0 ? "warn" : ""); }
  }
  function apply(msg) {
    var data = JSON.parse(msg.data);
    var tmp = document.createElement("tbody");
    data.rows.forEach(function (r) {
      var old = document.getElementById("row-" + r.name);
      if (!old) { return; } // filtered out, or a new host: shown on the next load
      tmp.innerHTML = r.html;
      var row = tmp.firstElementChild;
      if (!row) { return; }
      row.classList.add("flash");
      old.replaceWith(row);
      window.hwLive.rows += 1;
    });
    if (data.summary) { summary(data.summary); }
    window.hwLive.updates += 1;
    refreshAges();
  }
  if (!window.EventSource) { return; }
  setState("connecting");
  var source = new EventSource("/events/fleet");
  source.addEventListener("hello", function () { setState("open"); });
  source.addEventListener("open", function () { setState("open"); });
  source.addEventListener("rows", apply);
  source.addEventListener("reload", function () { window.location.reload(); });
  source.addEventListener("error", function () {
    setState("lost");
    // A closed source (the server said 401: the session ended) does not retry by itself.
    if (source.readyState === EventSource.CLOSED) { window.setTimeout(function () { window.location.reload(); }, 5000); }
  });
  window.setInterval(refreshAges, 15000);
})();
