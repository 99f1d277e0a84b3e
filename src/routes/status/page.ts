/**
 * The status page's HTML: a static shell. The script (client.js) fills it from `/status/json`;
 * the page itself has no inline script or style, so its Content-Security-Policy can forbid both.
 *
 * @example new Response(STATUS_HTML, { headers: { 'content-type': 'text/html; charset=utf-8' } })
 */

/** Where the page's own script and stylesheet are served. */
export const STATUS_ASSETS = '/status/assets'

/**
 * The CSP of the page and its assets: only same-origin scripts, styles and fetches; no inline
 * code, no plugins, no framing, no form posts. (Styles set through the CSSOM by the script, such
 * as a bar's width, are not inline styles to CSP.)
 */
export const STATUS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const chart = (id: string, title: string, legend: string) => `
      <figure class="card chart" id="chart-${id}" data-chart="${id}">
        <figcaption><span class="title">${title}</span><span class="legend">${legend}</span></figcaption>
        <svg viewBox="0 0 320 120" role="img" aria-label="${title}"></svg>
      </figure>`

/** The page: tiles of current figures, six charts of the last 60 s, per-worker and per-task tables. */
export const STATUS_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="light dark">
  <title>highperf status</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="${STATUS_ASSETS}/status.css">
  <script src="${STATUS_ASSETS}/status.js" defer></script>
</head>
<body>
  <header>
    <h1>highperf <span class="muted">status</span></h1>
    <p id="conn" class="conn" data-state="connecting">connecting…</p>
  </header>
  <main>
    <section class="tiles" aria-label="Now">
      <div class="card tile"><span class="label">Workers busy</span><span class="value" id="t-busy" data-value="">–</span></div>
      <div class="card tile"><span class="label">Queue depth</span><span class="value" id="t-queued" data-value="">–</span></div>
      <div class="card tile"><span class="label">Tasks done</span><span class="value" id="t-tasks" data-value="">–</span></div>
      <div class="card tile"><span class="label">HTTP req/s</span><span class="value" id="t-rps" data-value="">–</span></div>
      <div class="card tile"><span class="label">HTTP 5xx/s</span><span class="value" id="t-err" data-value="">–</span></div>
      <div class="card tile"><span class="label">Jobs queued · running</span><span class="value" id="t-jobs" data-value="">–</span></div>
    </section>
    <section class="charts" aria-label="Last 60 seconds">${chart('workers', 'Workers busy', '<i class="s0"></i>running <i class="s1"></i>alive')}${chart('queue', 'Queue depth', '<i class="s0"></i>tasks waiting')}${chart('latency', 'Task run time, ms', '<i class="s0"></i>p50 <i class="s1"></i>p90 <i class="s2"></i>p99')}${chart('tasks', 'Tasks finished / s', '<i class="s0"></i>ok <i class="s2"></i>failed')}${chart('http', 'HTTP requests / s', '<i class="s0"></i>all <i class="s1"></i>4xx <i class="s2"></i>5xx')}${chart('jobs', 'Jobs by state', '<i class="s0"></i>queued <i class="s1"></i>running <i class="s2"></i>failed')}
    </section>
    <section class="tables">
      <div class="card">
        <h2>Workers <span class="muted">share of time running tasks, since start</span></h2>
        <p class="meta muted" id="pool-meta"></p>
        <ul id="worker-bars" class="bars"></ul>
      </div>
      <div class="card">
        <h2>Tasks <span class="muted">run time since start, ms</span></h2>
        <table id="tasks-table"><thead><tr><th>task</th><th>ok</th><th>failed</th><th>p50</th><th>p90</th><th>p99</th></tr></thead><tbody></tbody></table>
      </div>
      <div class="card">
        <h2>Jobs <span class="muted">by state</span></h2>
        <dl id="jobs-states" class="states"></dl>
      </div>
    </section>
  </main>
  <footer class="muted">Updated every second from <a href="/status/json">/status/json</a> (the figures of <code>GET /pool</code>, the jobs runner and <code>/metrics</code>); the page's own requests are not counted. Run times are the slowest task's percentiles.</footer>
</body>
</html>
`
