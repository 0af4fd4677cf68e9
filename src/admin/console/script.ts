/**
 * The console's script: plain browser JavaScript, no framework. It keeps the admin token in
 * `sessionStorage` and sends it as `Authorization: Bearer` on every admin request; it polls
 * `/admin/routes`, `/admin/stats` and `/admin/logs` every 2 s and draws the charts on
 * `<canvas>` with a small line chart of its own.
 * @module
 */

/** The console's script (`GET /console/app.js`). */
export const CONSOLE_JS: string = String.raw`"use strict";
(function () {
  var TOKEN_KEY = "sprox-admin-token";
  var REFRESH_MS = 2000;
  var POINTS = 60;
  var $ = function (id) { return document.getElementById(id); };
  var timer = null;
  var last = null;
  var series = { requests: [], bandwidth: [], s2: [], s3: [], s4: [], s5: [], cache: [] };
  var baseFilled = false;

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function setStatus(text, bad) {
    $("status").textContent = text;
    $("status").className = bad ? "bad" : "";
  }

  function api(path, init) {
    init = init || {};
    var headers = new Headers(init.headers || {});
    headers.set("authorization", "Bearer " + sessionStorage.getItem(TOKEN_KEY));
    init.headers = headers;
    init.cache = "no-store";
    return fetch(path, init).then(function (response) {
      if (response.status === 401 || response.status === 403) {
        signOut(response.status === 403 ? "wrong token" : "token required");
        throw new Error("unauthorized");
      }
      if (!response.ok) throw new Error(path + ": status " + response.status);
      return response.json();
    });
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (timer !== null) clearInterval(timer);
    timer = null;
    $("console").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    setStatus("signed out");
  }

  function signIn() {
    $("login").hidden = true;
    $("console").hidden = false;
    refresh();
    timer = setInterval(refresh, REFRESH_MS);
  }

  // Routes and origin health.
  function showRoutes(routes) {
    var body = $("routes");
    body.replaceChildren();
    routes.forEach(function (route) {
      var row = el("tr");
      row.dataset.route = route.id;
      row.append(el("td", route.id), el("td", route.listener),
        el("td", route.host_patterns.join(", ")),
        el("td", route.ready ? "yes" : "no", route.ready ? "healthy" : "unhealthy"));
      var origins = el("td");
      route.origins.forEach(function (origin) {
        var line = el("div", origin.url + " ");
        line.append(el("span", origin.state, origin.state));
        origins.append(line);
      });
      var counts = Object.keys(route.counters.requests).sort().map(function (k) {
        return k + ": " + route.counters.requests[k];
      });
      row.append(origins, el("td", counts.join(", ") || "none"));
      body.append(row);
    });
    if (!baseFilled && routes.length > 0) {
      // The first route's listener, reachable from this browser when it listens on any address.
      var listener = routes[0].listener;
      var colon = listener.lastIndexOf(":");
      var host = listener.slice(0, colon);
      if (host === "0.0.0.0" || host === "::" || host === "[::]") host = location.hostname;
      $("base-url").value = "http://" + host + ":" + listener.slice(colon + 1);
      baseFilled = true;
    }
  }

  // Charts: counters turned into rates between two readings.
  function sum(record) {
    return Object.keys(record).reduce(function (total, k) { return total + record[k]; }, 0);
  }

  function push(list, value) {
    list.push(value);
    if (list.length > POINTS) list.shift();
  }

  function addStats(stats) {
    if (last !== null) {
      var seconds = Math.max((stats.at - last.at) / 1000, 0.001);
      var rate = function (now, before) { return Math.max(now - before, 0) / seconds; };
      push(series.requests, rate(sum(stats.requests), sum(last.requests)));
      push(series.bandwidth, rate(sum(stats.bytes), sum(last.bytes)) * 8 / 1e6);
      ["2", "3", "4", "5"].forEach(function (c) {
        var key = c + "xx";
        push(series["s" + c], rate(stats.requests[key] || 0, last.requests[key] || 0));
      });
      var lookups = sum(stats.cache) - sum(last.cache);
      var hits = (stats.cache.hit || 0) - (last.cache.hit || 0);
      push(series.cache, lookups > 0 ? 100 * hits / lookups : null);
    }
    last = stats;
    drawChart($("chart-requests"), [{ color: "#1d5fd6", values: series.requests }]);
    drawChart($("chart-bandwidth"), [{ color: "#7b3fd6", values: series.bandwidth }]);
    drawChart($("chart-status"), [
      { label: "2xx", color: "#1e7b34", values: series.s2 },
      { label: "3xx", color: "#1d5fd6", values: series.s3 },
      { label: "4xx", color: "#c77700", values: series.s4 },
      { label: "5xx", color: "#b3261e", values: series.s5 },
    ]);
    drawChart($("chart-cache"), [{ color: "#00838f", values: series.cache }], { max: 100 });
  }

  /** A line chart: each series over the last POINTS samples, null values left as gaps. */
  function drawChart(canvas, lines, options) {
    options = options || {};
    var ctx = canvas.getContext("2d");
    var w = canvas.width, h = canvas.height, left = 48, top = 8, bottom = 20;
    ctx.clearRect(0, 0, w, h);
    var length = 0, max = options.max || 0;
    lines.forEach(function (line) {
      length = Math.max(length, line.values.length);
      if (!options.max) {
        line.values.forEach(function (v) { if (v !== null && v > max) max = v; });
      }
    });
    if (max <= 0) max = 1;
    var points = options.points || POINTS;
    ctx.strokeStyle = "#d7dae0";
    ctx.fillStyle = "#5b6270";
    ctx.font = "11px sans-serif";
    ctx.lineWidth = 1;
    for (var i = 0; i <= 4; i++) {
      var y = top + (h - top - bottom) * i / 4;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(w, y);
      ctx.stroke();
      var label = max * (4 - i) / 4;
      ctx.fillText(label >= 100 ? label.toFixed(0) : label.toPrecision(2), 2, y + 4);
    }
    lines.forEach(function (line, index) {
      ctx.strokeStyle = line.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      var drawing = false;
      var offset = points - line.values.length;
      line.values.forEach(function (v, j) {
        if (v === null) { drawing = false; return; }
        var x = left + (w - left) * (offset + j) / Math.max(points - 1, 1);
        var y = top + (h - top - bottom) * (1 - v / max);
        if (drawing) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        drawing = true;
      });
      ctx.stroke();
      // A dot on each sample, so a lone sample (or one between gaps) is visible too.
      ctx.fillStyle = line.color;
      line.values.forEach(function (v, j) {
        if (v === null) return;
        var x = left + (w - left) * (offset + j) / Math.max(points - 1, 1);
        ctx.fillRect(x - 1.5, top + (h - top - bottom) * (1 - v / max) - 1.5, 3, 3);
      });
      if (line.label) {
        ctx.fillStyle = line.color;
        ctx.fillText(line.label, left + 8 + index * 40, h - 5);
      }
    });
    canvas.dataset.points = String(length);
    var latest = lines[0].values[lines[0].values.length - 1];
    canvas.dataset.latest = latest === undefined || latest === null ? "" : String(latest);
  }

  // Recent warnings and errors, newest first.
  function showLogs(lines) {
    var list = $("logs");
    list.replaceChildren();
    lines.slice().reverse().forEach(function (line) {
      var rest = Object.assign({}, line);
      delete rest.ts; delete rest.level; delete rest.msg;
      list.append(el("li", line.ts + " " + line.level + " " + line.msg + " " +
        JSON.stringify(rest), line.level));
    });
    if (lines.length === 0) list.append(el("li", "none since the process started"));
  }

  function refresh() {
    Promise.all([api("/admin/routes"), api("/admin/stats"), api("/admin/logs")])
      .then(function (answers) {
        showRoutes(answers[0].routes);
        addStats(answers[1]);
        showLogs(answers[2].lines);
        document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
        setStatus("updated " + new Date().toLocaleTimeString());
      })
      .catch(function (error) {
        if (error.message !== "unauthorized") setStatus("refresh failed: " + error.message, true);
      });
  }

  // URL builder.
  function addHeaderRow(name, value) {
    var row = el("div", undefined, "header-row");
    var n = el("input"); n.placeholder = "name (referer)"; n.className = "header-name";
    var v = el("input"); v.placeholder = "value"; v.className = "header-value";
    n.value = name || ""; v.value = value || "";
    var remove = el("button", "remove"); remove.type = "button";
    remove.onclick = function () { row.remove(); };
    row.append(n, v, remove);
    $("headers").append(row);
  }

  function headerPairs() {
    var out = [];
    document.querySelectorAll("#headers .header-row").forEach(function (row) {
      var name = row.querySelector(".header-name").value.trim();
      if (name) out.push([name, row.querySelector(".header-value").value]);
    });
    return out;
  }

  function buildUrl() {
    var base = $("base-url").value.replace(/\/+$/, "");
    var endpoint = $("endpoint").value;
    var password = $("api-password").value;
    var headers = headerPairs();
    if (!$("signed").checked) {
      var query = new URLSearchParams();
      query.set("d", $("destination").value);
      headers.forEach(function (p) { query.append("h_" + p[0].toLowerCase(), p[1]); });
      if (password) query.set("api_password", password);
      return Promise.resolve(base + endpoint + "?" + query.toString());
    }
    var body = {
      mediaflow_proxy_url: base,
      endpoint: endpoint,
      destination_url: $("destination").value,
      request_headers: Object.fromEntries(headers),
      expiration: Number($("expiration").value) || 3600,
    };
    if (password) body.api_password = password;
    return fetch(base + "/generate_url", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) throw new Error(answer.message || "status " + response.status);
        return answer.url;
      });
    });
  }

  var player = null;
  function play(url) {
    var video = $("preview");
    if (player) { player.destroy(); player = null; }
    $("preview-status").textContent = "loading";
    $("preview-status").className = "";
    var failed = function (text) {
      $("preview-status").textContent = "error: " + text;
      $("preview-status").className = "bad";
    };
    var start = function () {
      video.play().then(function () {
        $("preview-status").textContent = "playing";
      }, function (error) { failed(String(error)); });
    };
    if (window.Hls && Hls.isSupported() && !/\/proxy\/stream/.test(url)) {
      player = new Hls();
      player.on(Hls.Events.ERROR, function (_, data) { if (data.fatal) failed(data.details); });
      player.on(Hls.Events.MANIFEST_PARSED, start);
      player.loadSource(url);
      player.attachMedia(video);
    } else {
      video.src = url;
      start();
    }
  }

  // Speedtest: throughput per 25 ms window (8 MiB takes well under a second on a LAN) while the payload downloads.
  function speedtest() {
    var base = $("base-url").value.replace(/\/+$/, "");
    var points = [];
    var status = $("speedtest-status");
    var canvas = $("chart-speedtest");
    status.textContent = "running";
    status.className = "";
    var started = performance.now(), windowStart = started, windowBytes = 0, total = 0;
    fetch(base + "/speedtest", { cache: "no-store" }).then(function (response) {
      if (!response.ok) throw new Error("status " + response.status);
      var reader = response.body.getReader();
      var pump = function () {
        return reader.read().then(function (chunk) {
          var now = performance.now();
          if (!chunk.done) { windowBytes += chunk.value.length; total += chunk.value.length; }
          if (now - windowStart >= 25 || chunk.done) {
            if (windowBytes > 0) points.push(windowBytes * 8 / 1e6 / ((now - windowStart) / 1000));
            windowStart = now; windowBytes = 0;
            drawChart(canvas, [{ color: "#1d5fd6", values: points }], { points: Math.max(points.length, 2) });
          }
          if (chunk.done) {
            var seconds = (now - started) / 1000;
            status.textContent = "done: " + total + " bytes, " +
              (total * 8 / 1e6 / Math.max(seconds, 0.001)).toFixed(1) + " Mbit/s";
            return;
          }
          return pump();
        });
      };
      return pump();
    }).catch(function (error) {
      status.textContent = "failed: " + error.message;
      status.className = "bad";
    });
  }

  $("login").addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    $("token").value = "";
    signIn();
  });
  $("add-header").onclick = function () { addHeaderRow(); };
  $("builder").addEventListener("submit", function (event) {
    event.preventDefault();
    buildUrl().then(function (url) {
      $("built-url").value = url;
      $("preview-status").textContent = "built";
      $("preview-status").className = "";
    }, function (error) {
      $("preview-status").textContent = "cannot build: " + error.message;
      $("preview-status").className = "bad";
    });
  });
  $("play").onclick = function () { if ($("built-url").value) play($("built-url").value); };
  $("speedtest").onclick = speedtest;
  addHeaderRow();
  if (sessionStorage.getItem(TOKEN_KEY)) signIn();
})();
`;
