/**
 * The console's page and style sheet: plain HTML and CSS, no framework.
 * @module
 */

/** The console's one page (`GET /` on the admin listener). */
export const CONSOLE_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sProx console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/style.css">
</head>
<body>
<header><h1>sProx console</h1><span id="status">signed out</span></header>
<form id="login">
  <label>Admin bearer token <input id="token" type="password" autocomplete="off" required></label>
  <button type="submit">Open</button>
  <span id="login-error"></span>
</form>
<main id="console" hidden>
  <section class="wide">
    <h2>Routes and origin health</h2>
    <table><thead><tr><th>Route</th><th>Listener</th><th>Hosts</th><th>Ready</th>
      <th>Origins</th><th>Requests</th></tr></thead><tbody id="routes"></tbody></table>
  </section>
  <section><h2>Request rate <small>req/s</small></h2><canvas id="chart-requests" width="520" height="160"></canvas></section>
  <section><h2>Bandwidth <small>Mbit/s</small></h2><canvas id="chart-bandwidth" width="520" height="160"></canvas></section>
  <section><h2>Status mix <small>req/s</small></h2><canvas id="chart-status" width="520" height="160"></canvas></section>
  <section><h2>Cache hit ratio <small>%</small></h2><canvas id="chart-cache" width="520" height="160"></canvas></section>
  <section class="wide">
    <h2>Recent warnings and errors</h2>
    <ol id="logs"></ol>
  </section>
  <section class="wide">
    <h2>/proxy URL builder and preview</h2>
    <form id="builder">
      <label>sProx base URL <input id="base-url" type="url" required></label>
      <label>Endpoint <select id="endpoint">
        <option>/proxy/hls/manifest.m3u8</option>
        <option>/proxy/mpd/manifest.m3u8</option>
        <option>/proxy/stream</option>
      </select></label>
      <label>Destination <input id="destination" type="url" required></label>
      <fieldset><legend>Request headers (h_)</legend><div id="headers"></div>
        <button type="button" id="add-header">Add header</button></fieldset>
      <label>api_password <input id="api-password" type="password" autocomplete="off"></label>
      <label><input id="signed" type="checkbox"> signed URL (POST /generate_url)</label>
      <label>expires in (s) <input id="expiration" type="number" min="1" value="3600"></label>
      <button type="submit">Build</button>
    </form>
    <label>URL <input id="built-url"></label>
    <button type="button" id="play">Play preview</button>
    <span id="preview-status"></span>
    <video id="preview" muted playsinline controls></video>
  </section>
  <section class="wide">
    <h2>Speedtest <small>Mbit/s, from the base URL's /speedtest</small></h2>
    <button type="button" id="speedtest">Run speedtest</button>
    <span id="speedtest-status"></span>
    <canvas id="chart-speedtest" width="1060" height="160"></canvas>
  </section>
</main>
<script src="/console/hls.min.js"></script>
<script src="/console/app.js"></script>
</body>
</html>
`;

/** The console's style sheet. */
export const CONSOLE_CSS: string = `
[hidden] { display: none !important; }
body { font: 14px system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
header { display: flex; gap: 1em; align-items: baseline; padding: .5em 1em; background: #1d2330;
  color: #fff; }
header h1 { font-size: 1.2em; margin: 0; }
#status { opacity: .8; }
#login { padding: 1em; display: flex; gap: .5em; align-items: center; }
#login-error, .bad { color: #b3261e; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(540px, 1fr)); gap: 1em;
  padding: 1em; }
section { background: #fff; border-radius: 6px; padding: .5em 1em 1em; box-shadow: 0 1px 2px #0002; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 1em; margin: .5em 0; }
small { font-weight: normal; opacity: .7; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid #e3e5ea; vertical-align: top; }
.healthy { color: #1e7b34; } .ejected, .unhealthy { color: #b3261e; }
#logs { font: 12px ui-monospace, monospace; max-height: 14em; overflow: auto; margin: 0;
  padding-left: 2em; overflow-wrap: anywhere; }
#logs .error { color: #b3261e; } #logs .warn { color: #8a5a00; }
#builder { display: flex; flex-wrap: wrap; gap: .5em 1em; align-items: end; margin-bottom: .5em; }
#builder label, fieldset { display: flex; flex-direction: column; gap: .2em; }
#destination, #built-url { min-width: 32em; }
#built-url { width: 100%; box-sizing: border-box; margin: .25em 0; }
.header-row { display: flex; gap: .25em; margin-bottom: .25em; }
video { display: block; width: 480px; max-width: 100%; background: #000; margin-top: .5em; }
canvas { width: 100%; height: auto; }
`;
