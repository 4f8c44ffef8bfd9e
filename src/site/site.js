// A pondsql site's chart page: dygraphs over per-level, time-chunked JSON
// files (written by `pondsql site build`, src/site/mod.rs says how). For
// the visible window it picks the finest level with at most as many points
// as the chart is wide, as series() does, and fetches only the chunks there.
"use strict";
var PondSite = (function () {
  var status = function () { return document.getElementById("status"); };
  function fail(message) {
    var el = status();
    if (el) { el.dataset.error = message; el.textContent = "error: " + message; }
    console.error(message);
  }
  window.addEventListener("error", function (e) { fail(String(e.message)); });

  function getJson(url) {
    return fetch(url).then(function (r) {
      if (!r.ok) throw new Error(url + ": HTTP " + r.status);
      return r.json();
    });
  }

  // The window a URL asks for: #from=2024-06-01&to=2024-06-02 (UTC).
  function windowFromHash() {
    var params = new URLSearchParams(location.hash.slice(1));
    var from = Date.parse(params.get("from") + "Z"), to = Date.parse(params.get("to") + "Z");
    if (isNaN(from)) from = Date.parse(params.get("from"));
    if (isNaN(to)) to = Date.parse(params.get("to"));
    return isNaN(from) || isNaN(to) || to <= from ? null : [from, to];
  }

  function show(config) {
    var base = config.manifest.replace(/manifest\.json$/, "");
    var cache = {};
    getJson(config.manifest).then(function (manifest) {
      var levels = manifest.levels; // finest first
      var chart = document.getElementById("chart");
      var maxPoints = Math.max(100, chart.clientWidth || 800);

      function chunksIn(level, a, b) {
        var keys = [];
        var first = Math.floor(a / level.chunk_ms), last = Math.floor((b - 1) / level.chunk_ms);
        if (last - first > 100000) return Object.keys(level.chunks).map(Number);
        for (var k = first; k <= last; k++) if (level.chunks[k] !== undefined) keys.push(k);
        return keys;
      }
      // Buckets that start in [a, b), or the rows of the chunks it touches.
      function points(level, a, b) {
        if (level.bucket_ms) return Math.ceil(b / level.bucket_ms) - Math.ceil(a / level.bucket_ms);
        return chunksIn(level, a, b).reduce(function (n, k) { return n + level.chunks[k]; }, 0);
      }
      function choose(a, b) {
        for (var i = 0; i < levels.length; i++) if (points(levels[i], a, b) <= maxPoints) return levels[i];
        return levels[levels.length - 1];
      }
      function load(level, a, b) {
        var keys = chunksIn(level, a, b);
        return Promise.all(keys.map(function (k) {
          var url = base + encodeURIComponent(level.name) + "/" + k + ".json";
          if (!cache[url]) cache[url] = getJson(url);
          return cache[url];
        })).then(function (parts) {
          var rows = [], last = null;
          parts.forEach(function (part) {
            var values = part.m[config.measure];
            for (var i = 0; i < part.t.length; i++) {
              var t = part.t[i], v = values[i];
              // A missing bucket is a gap, not a line across it.
              if (last !== null && level.gap_ms > 0 && t - last > level.gap_ms) rows.push([new Date(last + 1), null]);
              rows.push([new Date(t), v[1] === null ? null : v]);
              last = t;
            }
          });
          return rows;
        });
      }

      var full = [manifest.from_ms, Math.max(manifest.to_ms, manifest.from_ms + 1)];
      var initial = windowFromHash() || full;
      var shown = null, graph = null, pending = 0;
      function refresh(a, b) {
        var level = choose(a, b);
        var span = b - a;
        var key = level.name + ":" + chunksIn(level, a - span, b + span).join(",");
        if (key === shown) return;
        shown = key;
        var ticket = ++pending;
        load(level, a - span, b + span).then(function (rows) {
          if (ticket !== pending) return; // a newer window won
          if (rows.length === 0) rows = [[new Date(a), null]];
          if (graph === null) {
            graph = new Dygraph(chart, rows, {
              labels: ["time", config.measure],
              customBars: true,
              labelsUTC: true,
              colors: ["#1f77b4"],
              strokeWidth: 1.5,
              axes: { x: { axisLabelWidth: 70 } },
              ylabel: manifest.units[config.measure] || "",
              dateWindow: [a, b],
              connectSeparatedPoints: false,
              zoomCallback: function (lo, hi) { refresh(lo, hi); },
              drawCallback: function (g, first) {
                if (!first) { var r = g.xAxisRange(); refresh(r[0], r[1]); }
              },
            });
          } else {
            graph.updateOptions({ file: rows });
          }
          var el = status();
          el.dataset.level = level.name;
          el.dataset.points = String(rows.length);
          el.textContent = "showing " + level.name + " (" + rows.length + " points)";
        }).catch(function (e) { fail(String(e && e.message || e)); });
      }
      refresh(initial[0], initial[1]);
    }).catch(function (e) { fail(String(e && e.message || e)); });
  }
  return { show: show };
})();
