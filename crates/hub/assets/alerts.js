// Alert actions for admins on the host and alerts pages: acknowledge, silence, delete a
// silence, create one from the form, and send a test notification. Each POSTs to the same
// /api/v1 endpoints API clients use; the session cookie authenticates and the browser's
// Sec-Fetch-Site header satisfies the CSRF check. The page reloads to show the new state.
(function () {
  "use strict";
  document.querySelectorAll("time.local[data-ts]").forEach(function (el) {
    var ms = Number(el.dataset.ts);
    if (ms > 0 && !el.title) { el.title = new Date(ms).toLocaleString(); }
  });
  function say(near, text, ok) {
    var box = near.closest("section, form");
    var out = box ? box.querySelector(".action-result") : null;
    if (!out) { return; }
    out.hidden = false;
    out.textContent = text;
    out.className = "action-result " + (ok ? "ok" : "error");
  }
  function call(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        return { ok: r.ok, status: r.status, data: data, text: t };
      });
    });
  }
  function failed(r) { return (r.data && r.data.error) || ("HTTP " + r.status + (r.text ? ": " + r.text : "")); }
  window.hwActions = { done: 0, last: null };
  function finish(el, r, okText, reload) {
    window.hwActions.done += 1;
    window.hwActions.last = { status: r.status, data: r.data };
    say(el, r.ok ? okText : failed(r), r.ok);
    if (r.ok && reload) { window.setTimeout(function () { window.location.reload(); }, 600); }
  }
  // "host=web-1, rule=~fs_.*" → [{label, op, value}]; quotes around values are optional.
  function parseMatchers(text) {
    var out = [];
    text.split(",").forEach(function (part) {
      part = part.trim();
      if (!part) { return; }
      var m = part.match(/^([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*)$/);
      if (!m) { throw new Error("`" + part + "` is not label=value (or !=, =~, !~)"); }
      var value = m[3].trim().replace(/^"(.*)"$/, "$1");
      out.push({ label: m[1], op: m[2], value: value });
    });
    if (!out.length) { throw new Error("give at least one matcher"); }
    return out;
  }
  window.hwParseMatchers = parseMatchers;
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button");
    if (!b) { return; }
    if (b.classList.contains("ack")) {
      b.disabled = true;
      call("POST", "/api/v1/alerts/" + encodeURIComponent(b.dataset.fingerprint) + "/ack", { comment: "" })
        .then(function (r) { finish(b, r, "Acknowledged.", true); b.disabled = r.ok; });
    } else if (b.classList.contains("silence")) {
      b.disabled = true;
      call("POST", "/api/v1/silences", { matchers: JSON.parse(b.dataset.matchers), duration: b.dataset.duration, comment: "silenced from the dashboard" })
        .then(function (r) { finish(b, r, "Silenced for " + b.dataset.duration + ".", true); b.disabled = r.ok; });
    } else if (b.classList.contains("delete-silence")) {
      b.disabled = true;
      call("DELETE", "/api/v1/silences/" + encodeURIComponent(b.dataset.id))
        .then(function (r) { finish(b, r, "Silence deleted.", true); b.disabled = r.ok; });
    } else if (b.classList.contains("send-test")) {
      b.disabled = true;
      var cell = document.getElementById("test-result-" + b.dataset.channel);
      if (cell) { cell.textContent = "sending…"; cell.className = "test-result"; }
      call("POST", "/api/v1/notify/test/" + encodeURIComponent(b.dataset.channel))
        .then(function (r) {
          window.hwActions.done += 1;
          window.hwActions.last = { status: r.status, data: r.data };
          b.disabled = false;
          if (!cell) { return; }
          var d = r.data || {};
          cell.textContent = d.delivered ? "delivered" : "not delivered: " + (d.error || failed(r));
          cell.className = "test-result " + (d.delivered ? "ok" : "crit");
        });
    }
  });
  var form = document.getElementById("silence-form");
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var matchers;
      try { matchers = parseMatchers(form.elements.matchers.value); } catch (e) { say(form, e.message, false); return; }
      call("POST", "/api/v1/silences", { matchers: matchers, duration: form.elements.duration.value.trim(), comment: form.elements.comment.value })
        .then(function (r) { finish(form, r, "Silence created.", true); });
    });
  }
})();
