/**
 * src/http/request-state.ts: one typed record per request carries everything the stages keep,
 * the deadline's signal included; the Request itself gets one property, the state.
 */
import { describe, expect, test } from 'bun:test'
import type { Span } from '@opentelemetry/api'
import { AppError } from '../../src/errors.ts'
import { auth } from '../../src/http/auth/index.ts'
import { circuitBreaker } from '../../src/http/circuit-breaker/index.ts'
import { deadline } from '../../src/http/deadline/index.ts'
import type { Stage } from '../../src/http/front/index.ts'
import { maxInflight } from '../../src/http/max-inflight/index.ts'
import { rateLimit } from '../../src/http/rate-limit/index.ts'
import { armedDeadlines, remainingMs, requestSignal, stateOf, type RequestState } from '../../src/http/request-state.ts'
import type { Tracing } from '../../src/http/tracing/exporter.ts'
import { tracingStage } from '../../src/http/tracing/index.ts'
import { stackApp } from '../support/front.ts'

const TOKEN = 'request-state-token'
const OPTS = { requestTimeout: 100, taskTimeout: 30_000, llmTimeout: 60_000 }

/** A tracer that records nothing: enough for the tracing stage to keep a span per request. */
const fakeTracing: Tracing = {
  startServerSpan: () => ({ spanContext: () => ({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 }) }) as unknown as Span,
  endServerSpan: () => {},
  flush: async () => {},
  shutdown: async () => {},
}

describe('the request state', () => {
  test('every stage keeps its per-request data on the state: the Request gets one property, whatever the stack', async () => {
    let seenInRoute: RequestState | undefined
    let symbolsInRoute = -1
    const stages = [
      tracingStage(fakeTracing),
      maxInflight({ limit: 100 }),
      rateLimit({ rps: 1e6, burst: 1e6, trustProxy: false, apiToken: TOKEN }),
      auth({ apiToken: TOKEN, authReads: true }),
      deadline(OPTS),
      circuitBreaker({ failureThreshold: 5, openDurationMs: 1_000 }),
    ]
    const app = stackApp(stages, (e) => e.get('/r', ({ request }) => {
      requestSignal(request)
      seenInRoute = stateOf(request)
      symbolsInRoute = Object.getOwnPropertySymbols(request).length
      return 'ok'
    }))
    const request = new Request('http://localhost/r', { headers: { authorization: `Bearer ${TOKEN}` } })
    const res = await app.handle(request)
    expect(res.status).toBe(200)
    expect(res.headers.get('ratelimit-limit')).not.toBeNull()
    expect(symbolsInRoute).toBe(1)
    expect(Object.getOwnPropertySymbols(request)).toHaveLength(1)
    const state = seenInRoute as RequestState
    expect(stateOf(request)).toBe(state)
    // What the stages kept, each in its own field, is given back by their `after`.
    expect(state.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
    expect([state.span, state.quota, state.breaker, state.counted]).toEqual([undefined, undefined, undefined, false])
    expect(state.deadlineMs).toBe(100)
    expect(armedDeadlines()).toBe(0)
  })

  test('a signal handed out before the deadline stage ran stays the request\'s signal and aborts at its deadline', async () => {
    let early: AbortSignal | undefined
    const asksFirst: Stage = { name: 'asks-first', before(state) { early = state.signal() } }
    let reason: unknown
    const app = stackApp([asksFirst, deadline(OPTS)], (e) => e.get('/wait', async ({ request }) => {
      const signal = requestSignal(request)
      expect(signal).toBe(early as AbortSignal)
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
      reason = signal.reason
      throw signal.reason
    }, { policy: { deadline: 30 } }))
    const res = await app.handle(new Request('http://localhost/wait'))
    expect(res.status).toBe(504)
    expect(reason).toBeInstanceOf(AppError)
    expect((reason as AppError).code).toBe('deadline_exceeded')
    expect(armedDeadlines()).toBe(0)
  })

  test('a signal first asked after the deadline passed is aborted at once, and no timer is left counted', async () => {
    const before = armedDeadlines()
    let aborted: unknown
    let left = -1
    const app = stackApp([deadline(OPTS)], (e) => e.get('/late', async ({ request }) => {
      await Bun.sleep(40)
      left = remainingMs(request)
      const signal = requestSignal(request)
      aborted = signal.aborted && (signal.reason as AppError).code
      return 'late'
    }, { policy: { deadline: 10 } }))
    expect((await app.handle(new Request('http://localhost/late'))).status).toBe(200)
    expect(left).toBe(0)
    expect(aborted).toBe('deadline_exceeded')
    expect(armedDeadlines()).toBe(before)
  })
})
