// highperf status page: polls /status/json once a second and draws the last 60 s as SVG.
// Plain ES2020, no library, no inline code (the page's CSP forbids it). Served as a file that
// `bun build --compile` embeds (src/routes/status/index.ts).
'use strict'

const WINDOW = 60 // points kept per series: one a second
const SVG = 'http://www.w3.org/2000/svg'
const W = 320
const H = 120
const PLOT = { left: 34, right: 314, top: 8, bottom: 102 }

/** series name -> array of numbers (oldest first), per chart */
const history = {
  workers: [[], []],
  queue: [[]],
  latency: [[], [], []],
  tasks: [[], []],
  http: [[], [], []],
  jobs: [[], [], []],
}
/** The colour class of each series, matching the legends in the page. */
const CLASSES = { workers: ['s0', 's1'], queue: ['s0'], latency: ['s0', 's1', 's2'], tasks: ['s0', 's2'], http: ['s0', 's1', 's2'], jobs: ['s0', 's1', 's2'] }
let previous = null

const $ = (id) => document.getElementById(id)

function push(chart, values) {
  const series = history[chart]
  values.forEach((v, i) => {
    const s = series[i]
    s.push(Number.isFinite(v) ? v : 0)
    if (s.length > WINDOW) s.shift()
  })
}

/** A round axis maximum >= v: 1, 2, 5 × 10^n. */
function niceMax(v) {
  if (!(v > 0)) return 1
  const p = Math.pow(10, Math.floor(Math.log10(v)))
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

function fmt(v) {
  if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + 'M'
  if (v >= 1e3) return (v / 1e3).toFixed(v >= 1e4 ? 0 : 1) + 'k'
  if (v >= 10 || Number.isInteger(v)) return String(Math.round(v))
  return v.toFixed(v >= 1 ? 1 : 2)
}

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name)
  for (const k in attrs) e.setAttribute(k, String(attrs[k]))
  if (text !== undefined) e.textContent = text
  return e
}

/** Redraws one chart: grid and y labels at 0, max/2, max; time labels; a line (and area for the first series) per series. */
function draw(chart) {
  const fig = $(`chart-${chart}`)
  const svg = fig.querySelector('svg')
  const series = history[chart]
  const max = niceMax(Math.max(0, ...series.flat()))
  const x = (i) => PLOT.right - (WINDOW - 1 - i) * ((PLOT.right - PLOT.left) / (WINDOW - 1))
  const y = (v) => PLOT.bottom - (v / max) * (PLOT.bottom - PLOT.top)
  const parts = []
  for (const f of [0, 0.5, 1]) {
    const gy = y(max * f)
    parts.push(el('line', { class: 'grid', x1: PLOT.left, x2: PLOT.right, y1: gy, y2: gy }))
    parts.push(el('text', { class: 'axis', x: PLOT.left - 4, y: gy + 3, 'text-anchor': 'end' }, fmt(max * f)))
  }
  for (const [label, i] of [['−60s', 0], ['−30s', 30], ['now', WINDOW - 1]]) {
    parts.push(el('text', { class: 'axis', x: x(i), y: H - 4, 'text-anchor': i === 0 ? 'start' : i === WINDOW - 1 ? 'end' : 'middle' }, label))
  }
  series.forEach((s, k) => {
    if (s.length === 0) return
    const offset = WINDOW - s.length
    const pts = s.map((v, i) => `${x(i + offset).toFixed(1)},${y(v).toFixed(1)}`)
    const cls = CLASSES[chart][k]
    if (k === 0) {
      parts.push(el('path', { class: `area ${cls}`, d: `M${x(offset).toFixed(1)},${PLOT.bottom} L${pts.join(' L')} L${x(WINDOW - 1).toFixed(1)},${PLOT.bottom} Z` }))
    }
    parts.push(el('path', { class: `line ${cls}`, d: `M${pts.join(' L')}` }))
  })
  svg.replaceChildren(...parts)
  const last = series[0][series[0].length - 1]
  fig.dataset.last = String(last ?? '')
  fig.dataset.max = String(Math.max(0, ...series[0]))
  fig.dataset.points = String(series[0].length)
}

function tile(id, value, text) {
  const e = $(id)
  e.dataset.value = String(value)
  e.textContent = text ?? fmt(value)
}

function render(s) {
  const dt = previous ? Math.max(0.001, (s.at - previous.at) / 1000) : 0
  const rate = (now, before) => (previous && dt > 0 ? Math.max(0, now - before) / dt : 0)
  const sum = (tasks, key) => tasks.reduce((n, t) => n + t[key], 0)
  const ok = sum(s.tasks, 'ok')
  const bad = sum(s.tasks, 'failed') + sum(s.tasks, 'timedOut') + sum(s.tasks, 'canceled')
  const prevTasks = previous ? previous.tasks : []
  const rps = rate(s.http.requests, previous && previous.http.requests)
  const r4 = rate(s.http.clientErrors, previous && previous.http.clientErrors)
  const r5 = rate(s.http.serverErrors, previous && previous.http.serverErrors)
  const worst = { p50: 0, p90: 0, p99: 0 }
  for (const t of s.tasks) if (t.ok > 0) for (const k in worst) worst[k] = Math.max(worst[k], t.runMs[k])

  push('workers', [s.pool.running, s.pool.alive])
  push('queue', [s.pool.queued])
  push('latency', [worst.p50, worst.p90, worst.p99])
  push('tasks', [rate(ok, sum(prevTasks, 'ok')), rate(bad, sum(prevTasks, 'failed') + sum(prevTasks, 'timedOut') + sum(prevTasks, 'canceled'))])
  push('http', [rps, r4, r5])
  push('jobs', [s.jobs.queued, s.jobs.running, s.jobs.failed])
  for (const chart in history) draw(chart)

  tile('t-busy', s.pool.running, `${s.pool.running} / ${s.pool.alive}`)
  tile('t-queued', s.pool.queued)
  tile('t-tasks', ok + bad)
  tile('t-rps', Math.round(rps * 10) / 10, fmt(rps))
  tile('t-err', Math.round(r5 * 10) / 10, fmt(r5))
  tile('t-jobs', s.jobs.queued + s.jobs.running, `${fmt(s.jobs.queued)} · ${fmt(s.jobs.running)}`)

  $('pool-meta').textContent = `${s.pool.alive}/${s.pool.workers} alive · ${s.pool.restarts} restarts · queue limit ${s.pool.queueLimit}` +
    (s.pool.overflow > 0 ? ` · ${s.pool.overflow} overflow` : '')
  const bars = s.pool.utilization.map((u, i) => {
    const li = document.createElement('li')
    if (i < s.pool.running) li.className = 'busy'
    const name = document.createElement('span')
    name.textContent = `worker ${i}`
    const track = document.createElement('span')
    track.className = 'track'
    const fill = document.createElement('span')
    fill.className = 'fill'
    fill.style.width = `${Math.min(100, u * 100).toFixed(1)}%` // CSSOM, allowed by the CSP
    track.append(fill)
    const pct = document.createElement('span')
    pct.textContent = `${(u * 100).toFixed(1)}%`
    li.append(name, track, pct)
    return li
  })
  $('worker-bars').replaceChildren(...bars)

  const rows = s.tasks.filter((t) => t.ok + t.failed + t.timedOut + t.canceled > 0).map((t) => {
    const tr = document.createElement('tr')
    for (const v of [t.name, fmt(t.ok), fmt(t.failed + t.timedOut + t.canceled), fmt(t.runMs.p50), fmt(t.runMs.p90), fmt(t.runMs.p99)]) {
      const td = document.createElement('td')
      td.textContent = v
      tr.append(td)
    }
    return tr
  })
  $('tasks-table').tBodies[0].replaceChildren(...rows)

  const states = []
  for (const k of ['queued', 'running', 'succeeded', 'failed', 'canceled']) {
    const dt2 = document.createElement('dt')
    dt2.textContent = k
    const dd = document.createElement('dd')
    dd.textContent = fmt(s.jobs[k])
    states.push(dt2, dd)
  }
  $('jobs-states').replaceChildren(...states)
  previous = s
}

async function tick() {
  const conn = $('conn')
  let wait = 1000
  try {
    const res = await fetch('/status/json', { cache: 'no-store', headers: { accept: 'application/json' } })
    if (!res.ok) {
      // Shed (503) or limited: wait as long as the server asks, at least a second.
      wait = Math.max(1000, Number(res.headers.get('retry-after') || 0) * 1000)
      throw new Error(`HTTP ${res.status}`)
    }
    render(await res.json())
    conn.dataset.state = 'live'
    conn.textContent = `live · ${new Date().toLocaleTimeString()}`
  } catch (err) {
    conn.dataset.state = 'error'
    conn.textContent = `no data: ${err && err.message ? err.message : err}; retrying`
    wait = Math.max(wait, 2000)
  }
  setTimeout(tick, wait)
}

tick()
