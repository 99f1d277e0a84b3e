/**
 * The end of a drain: requests still waiting when SHUTDOWN_TIMEOUT runs out (queued behind a busy
 * pool, mid-route) are answered `503 shutting_down` with the error envelope, never a reset
 * connection; the front's `shutdown()` does it and the server calls it. Raw sockets, so a cut
 * connection shows as status 0 rather than a client library's retry.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import type { Stage } from '../../src/http/front/index.ts'
import { rawRequest, type RawResponse } from '../support/raw-http.ts'
import { tempDir } from '../support/deps.ts'
import { stackApp } from '../support/front.ts'
import { freePort, spawnHighperf, waitHealthy } from '../support/process.ts'

const tmp = tempDir('highperf-shutdown-')
afterAll(() => tmp.remove())

type Envelope = { error: { code: string; message: string; requestId: string } }

const sleepTask = (port: number, ms: number): Promise<RawResponse> => {
  const body = JSON.stringify({ ms })
  return rawRequest(port, `POST /tasks/sleep HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, { timeoutMs: 15_000 })
}

async function untilReady(url: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if ((await fetch(`${url}readyz`)).status === 200) return
    await Bun.sleep(10)
  }
  throw new Error('the pool never became ready')
}

function expectShuttingDown(res: RawResponse): void {
  expect(res.status).toBe(503)
  const body = JSON.parse(res.body) as Envelope
  expect(body.error.code).toBe('shutting_down')
  expect(body.error.requestId).toBe(res.headers['x-request-id'] as string)
  expect(res.headers.connection).toBe('close')
  expect(res.headers['x-content-type-options']).toBe('nosniff')
}

describe('the front answers waiting requests at shutdown', () => {
  test('shutdown(): every waiting request gets 503 shutting_down at once, each answered and counted once; later ones too', async () => {
    const releases: Array<() => void> = []
    let afters = 0
    const counting: Stage = { name: 'count', after() { afters++ } }
    const app = stackApp([counting], (e) => e
      .get('/slow', () => new Promise<string>((resolve) => { releases.push(() => resolve('late')) }))
      .get('/fast', () => 'fast'))
    const pending = [app.handle(new Request('http://localhost/slow')), app.handle(new Request('http://localhost/slow'))]
    await Bun.sleep(10)
    expect(app.waiting).toBe(2)
    expect((await app.handle(new Request('http://localhost/fast'))).status).toBe(200)
    expect(app.waiting).toBe(2)
    expect(app.shutdown()).toBe(2)
    for (const res of await Promise.all(pending)) {
      expect(res.status).toBe(503)
      expect(((await res.json()) as Envelope).error.code).toBe('shutting_down')
    }
    // The routes finish after all: their answers are dropped, not counted a second time.
    for (const release of releases) release()
    await Bun.sleep(10)
    expect(afters).toBe(3)
    expect(app.waiting).toBe(0)
    const late = await app.handle(new Request('http://localhost/fast'))
    expect(late.status).toBe(503)
    expect(late.headers.get('connection')).toBe('close')
  })
})

// POOL_LONG_RUN=0 in these servers: with the hand-off on, short tasks would find an overflow
// worker instead of queueing behind the long one (docs/pool.md), and nothing would be waiting.
describe('SHUTDOWN_TIMEOUT ends with 503s, not resets', () => {
  let srv: RunningServer | undefined
  afterAll(async () => { await srv?.shutdown() })

  test('in process: a running task and two queued behind it (one worker) all get 503 shutting_down', async () => {
    srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'inproc'), workers: 1, shutdownTimeout: 400, poolLongRun: 0 }), { log: silentLogger() })
    await untilReady(srv.url)
    const running = sleepTask(srv.port, 10_000)
    await Bun.sleep(100)
    const queued = [sleepTask(srv.port, 10), sleepTask(srv.port, 10)]
    await Bun.sleep(200)
    const t0 = performance.now()
    const stopping = srv.shutdown()
    for (const res of [await running, ...(await Promise.all(queued))]) expectShuttingDown(res)
    await stopping
    // SHUTDOWN_TIMEOUT (400 ms) and then the answers: far from the 10 s the task wanted.
    expect(performance.now() - t0).toBeLessThan(5000)
  }, 30_000)

  test('the real process on SIGTERM: queued requests get 503 shutting_down and it exits 0', async () => {
    const port = freePort()
    const s = spawnHighperf([process.execPath, 'run', 'src/main.ts'], {
      PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(tmp.dir, 'proc'), WORKERS: '1', LOG_LEVEL: 'silent', ACCESS_LOG: 'off', SHUTDOWN_TIMEOUT: '400ms', POOL_LONG_RUN: '0',
    })
    try {
      await waitHealthy(`http://127.0.0.1:${port}/readyz`, s.proc)
      const running = sleepTask(port, 10_000)
      await Bun.sleep(100)
      const queued = [sleepTask(port, 10), sleepTask(port, 10), sleepTask(port, 10)]
      await Bun.sleep(200)
      s.proc.kill('SIGTERM')
      for (const res of [await running, ...(await Promise.all(queued))]) expectShuttingDown(res)
      expect((await s.output()).code).toBe(0)
    } finally {
      s.proc.kill('SIGKILL')
    }
  }, 30_000)
})
