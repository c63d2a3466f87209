// The host page's charts: uPlot, fed by /api/v1/hosts/{name}/series (the same JSON API
// clients use; the session cookie authenticates). One request per series name; charts share
// the cursor, drag to zoom, double-click to reset; rollups draw min/max bands.
(function () {
  "use strict";
  document.querySelectorAll("time.local[data-ts]").forEach(function (el) {
    var ms = Number(el.dataset.ts);
    if (ms > 0) { el.textContent = new Date(ms).toLocaleString(); el.title = new Date(ms).toISOString(); }
  });
  var root = document.getElementById("charts");
  if (!root || !window.uPlot) { return; }
  var host = root.dataset.host;
  var defs = JSON.parse(root.dataset.charts);
  var to = Date.now();
  var from = to - Number(root.dataset.rangeMs);
  var css = getComputedStyle(document.documentElement);
  var muted = css.getPropertyValue("--muted").trim() || "#888";
  var grid = css.getPropertyValue("--line").trim() || "#ddd";
  var palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
  window.hwCharts = {};

  function binary(v) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], i = 0, a = Math.abs(v);
    while (a >= 1024 && i < units.length - 1) { a /= 1024; v /= 1024; i++; }
    return (Math.abs(v) < 10 && i > 0 ? v.toFixed(1) : v.toFixed(0)) + " " + units[i];
  }
  function fmt(unit, v) {
    if (v == null || !isFinite(v)) { return "—"; }
    switch (unit) {
      case "bytes": return binary(v);
      case "B/s": return binary(v) + "/s";
      case "%": return v.toFixed(1) + " %";
      case "°C": return v.toFixed(1) + " °C";
      default: return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
    }
  }
  function labelOf(selector, labels) {
    // `cpu.user_pct` → `user`, `swap.cached_bytes` → `swap cached`: the chart names the rest.
    var name = selector.replace(/_pct$|_bytes$|_bps$|_celsius$/, "").replace(/^(cpu|load|fs|disk|net|temp|psi)\./, "").replace(/[._]/g, " ");
    var extra = Object.keys(labels || {}).map(function (k) { return labels[k]; }).join(" ");
    return extra ? name + " " + extra : name;
  }
  function fetchSeries(selector, points) {
    var url = "/api/v1/hosts/" + encodeURIComponent(host) + "/series?name=" + encodeURIComponent(selector) +
      "&from=" + from + "&to=" + to + "&max_points=" + points;
    return fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { series: [], step_ms: 0 }; })
      .catch(function () { return { series: [], step_ms: 0 }; });
  }

  function fetchTrends() {
    return fetch("/api/v1/hosts/" + encodeURIComponent(host) + "/trends", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { projections: [] }; })
      .catch(function () { return { projections: [] }; });
  }

  // Filesystem projections that reach a threshold: a dashed line from now, at the fitted
  // slope, to the threshold (or half a range past now when it is further away).
  function projectionsOf(trends) {
    return ((trends && trends.projections) || []).filter(function (p) {
      return p.series === "fs.used_pct" && p.reaches && p.current != null && p.slope_per_day != null;
    });
  }

  function build(def, el, replies, trends) {
    var projections = projectionsOf(trends);
    var lines = [];
    replies.forEach(function (rep, i) {
      rep.series.forEach(function (s) {
        if (s.points.length) { lines.push({ label: labelOf(def.series[i], s.labels), points: s.points }); }
      });
    });
    var body = el.querySelector(".body");
    if (!lines.length) {
      el.dataset.points = "0";
      el.classList.add("empty");
      body.innerHTML = '<p class="nodata">No data in this range.</p>';
      return;
    }
    // The chosen range's ends are stamps too, so the x axis spans the whole range the viewer
    // picked, not only the part that has data.
    var stamps = {};
    stamps[from] = true;
    stamps[to] = true;
    lines.forEach(function (l) { l.points.forEach(function (p) { stamps[p[0]] = true; }); });
    var horizon = to + (to - from) / 2;
    projections.forEach(function (p) {
      p.end = Math.min(p.reaches.at_ms, horizon);
      stamps[to] = true;
      stamps[p.end] = true;
    });
    var xs = Object.keys(stamps).map(Number).sort(function (a, b) { return a - b; });
    var index = {};
    xs.forEach(function (x, i) { index[x] = i; });
    function column(l, k) {
      var out = new Array(xs.length).fill(null);
      l.points.forEach(function (p) { out[index[p[0]]] = p[k]; });
      return out;
    }
    var data = [xs.map(function (x) { return x / 1000; })];
    var series = [{}];
    var bands = [];
    var raw = [];
    // Rollups and merged buckets carry min and max: draw them as a band so spikes stay visible.
    var banded = !def.stacked && lines.length <= 4 && lines.some(function (l) {
      return l.points.some(function (p) { return p[1] !== p[3]; });
    });
    lines.forEach(function (l, i) {
      var color = palette[i % palette.length];
      var avg = column(l, 2);
      raw.push(avg);
      if (def.stacked) {
        var below = i > 0 ? data[data.length - 1] : null;
        // No sample, no point: a gap stays a gap (the range's ends have none).
        var stacked = avg.map(function (v, k) { return v == null ? null : v + (below ? (below[k] || 0) : 0); });
        data.push(stacked);
        var idx = data.length - 1;
        series.push({
          label: l.label, stroke: color, width: 1,
          fill: i === 0 ? color + "55" : undefined,
          value: (function (r) { return function (u, v, si, k) { return k == null ? "—" : fmt(def.unit, r[k]); }; })(avg),
        });
        if (i > 0) { bands.push({ series: [idx, idx - 1], fill: color + "55" }); }
      } else {
        data.push(avg);
        series.push({ label: l.label, stroke: color, width: 1.5, value: function (u, v) { return fmt(def.unit, v); } });
        if (banded) {
          var avgIdx = data.length - 1;
          data.push(column(l, 1));
          data.push(column(l, 3));
          series.push({ label: l.label + " min", stroke: color + "55", width: 0.5, value: function (u, v) { return fmt(def.unit, v); } });
          series.push({ label: l.label + " max", stroke: color + "55", width: 0.5, value: function (u, v) { return fmt(def.unit, v); } });
          bands.push({ series: [avgIdx + 2, avgIdx + 1], fill: color + "26" });
        }
      }
    });
    projections.forEach(function (p, i) {
      var col = new Array(xs.length).fill(null);
      col[index[to]] = p.current;
      col[index[p.end]] = p.current + p.slope_per_day * (p.end - to) / 86400000;
      data.push(col);
      var mount = (p.labels && p.labels.mount) || "filesystem";
      series.push({ label: mount + " projected", stroke: palette[(lines.length + i) % palette.length], width: 1.5,
        dash: [6, 4], spanGaps: true, points: { show: false }, value: function (u, v) { return fmt(def.unit, v); } });
    });
    var width = Math.max(280, body.clientWidth || el.clientWidth - 20);
    var opts = {
      width: width,
      height: 200,
      series: series,
      bands: bands,
      cursor: { sync: { key: "host-" + host }, drag: { x: true, y: false, setScale: true } },
      scales: {
        x: { time: true },
        y: { range: function (u, min, max) {
          if (def.max) { return [0, Math.max(def.max, max || 0)]; }
          return [Math.min(0, min || 0), max > 0 ? max * 1.1 : 1];
        } },
      },
      axes: [
        { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 70,
          values: function (u, vals) { return vals.map(function (v) { return fmt(def.unit, v); }); } },
      ],
      legend: { live: true },
    };
    body.innerHTML = "";
    var plot = new uPlot(opts, data, body);
    window.hwCharts[def.id] = plot;
    el.dataset.points = String(xs.length);
    el.dataset.series = String(lines.length);
    el.dataset.projections = String(projections.length);
    projections.forEach(function (p) {
      var note = document.createElement("p");
      note.className = "projection-note";
      note.textContent = "⟶ " + p.sentence;
      el.appendChild(note);
    });
  }

  defs.forEach(function (def) {
    var el = document.createElement("div");
    el.className = "chart";
    el.id = "chart-" + def.id;
    el.dataset.points = "";
    el.innerHTML = "<h3></h3><div class=\"body\"><p class=\"nodata\">Loading…</p></div>";
    el.querySelector("h3").textContent = def.title;
    root.appendChild(el);
    var points = Math.min(2000, Math.max(200, Math.floor(el.clientWidth || 600)));
    var trends = def.id === "fs" ? fetchTrends() : Promise.resolve(null);
    Promise.all([Promise.all(def.series.map(function (s) { return fetchSeries(s, points); })), trends])
      .then(function (got) { build(def, el, got[0], got[1]); })
      .catch(function (e) { el.querySelector(".body").textContent = "Chart failed: " + e; el.dataset.points = "0"; });
  });

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(function () {
      Object.keys(window.hwCharts).forEach(function (id) {
        var el = document.getElementById("chart-" + id);
        var plot = window.hwCharts[id];
        if (el && plot) { plot.setSize({ width: Math.max(280, el.clientWidth - 20), height: 200 }); }
      });
    }, 150);
  });
})();
