import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { poolFactory } from './support.ts'

const dec = new TextDecoder()
const makePool = poolFactory(500)

async function json(p: Promise<Uint8Array>): Promise<unknown> {
  return JSON.parse(dec.decode(await p))
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'resolved'
  } catch (e) {
    return e instanceof AppError ? e.code : `not an AppError: ${String(e)}`
  }
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached')
    await Bun.sleep(5)
  }
}

describe('WorkerPool basics', () => {
  const pool = makePool({ queueLimit: 50_000 })

  test('the constructor returns at once and run() waits for a worker to be ready', async () => {
    const t0 = performance.now()
    const p = makePool({ workers: 1 })
    expect(performance.now() - t0).toBeLessThan(100)
    expect(await json(p.run('echo', '{"v":1}'))).toEqual({ v: 1 })
  })

  test('result bytes arrive unchanged, from string or byte input, unicode included', async () => {
    const text = '{"a":[1,2,3],"s":"é 😀 \\u0000","n":null}'
    expect(dec.decode(await pool.run('echo', text))).toBe(text)
    expect(dec.decode(await pool.run('echo', new TextEncoder().encode(text)))).toBe(text)
  })

  test('inputs and results larger than the ring take the side path', async () => {
    const big = JSON.stringify({ s: 'x'.repeat(3 << 20) })
    expect(dec.decode(await pool.run('echo', big))).toBe(big)
    const out = (await json(pool.run('t.big', '{"n":2000000}'))) as string
    expect(out.length).toBe(2_000_000)
  })

  test('a handler returning undefined yields null', async () => {
    expect(dec.decode(await pool.run('t.undefined', '{}'))).toBe('null')
  })

  test('unknown task, invalid JSON and invalid input fail with their codes', async () => {
    expect(await codeOf(pool.run('nope', '{}'))).toBe('unknown_task')
    expect(await codeOf(pool.run('echo', '{bad'))).toBe('invalid_json')
    const err = await pool.run('t.typed', '{"n":"x"}').catch((e: AppError) => e)
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('invalid_input')
    expect(Array.isArray((err as AppError).details)).toBe(true)
    expect(await json(pool.run('t.typed', '{"n":21}'))).toBe(42)
  })

  test('a task that throws fails alone, with its message and task_failed', async () => {
    const [bad, good] = await Promise.allSettled([pool.run('t.throw', '{}'), pool.run('echo', '1')])
    expect(bad.status).toBe('rejected')
    const e = (bad as PromiseRejectedResult).reason as AppError
    expect(e.code).toBe('task_failed')
    expect(e.message).toBe('kaboom')
    expect(good.status).toBe('fulfilled')
    expect(pool.stats().restarts).toBe(0)
  })

  test('progress reaches onProgress on the main thread', async () => {
    const seen: Array<[number, string]> = []
    await pool.run('t.progress', '{}', { onProgress: (p, m) => seen.push([p, m]) })
    expect(seen).toEqual([[10, 'at 10 é'], [50, 'at 50 é'], [100, 'at 100 é']])
  })

  test('stats count outcomes per task and summarise latencies', async () => {
    await pool.run('t.count', '{}')
    await until(() => pool.alive === 2) // a loaded machine may still be starting the second worker
    const s = pool.stats()
    expect(s.workers).toBe(2)
    expect(s.alive).toBe(2)
    expect(s.utilization.length).toBe(2)
    expect(s.tasks['t.throw']?.failed).toBeGreaterThanOrEqual(1)
    expect(s.tasks['echo']?.ok).toBeGreaterThanOrEqual(4)
    expect(s.tasks['echo']?.runMs.p99).toBeGreaterThan(0)
    expect(pool.catalog().some((t) => t.name === 'echo')).toBe(true)
  })

  test('a burst of 20k tasks all resolve', async () => {
    const all = await Promise.all(Array.from({ length: 20_000 }, (_, i) => pool.run('echo', String(i))))
    all.forEach((b, i) => { if (dec.decode(b) !== String(i)) throw new Error(`task ${i} got ${dec.decode(b)}`) })
  })
})

describe('scheduling', () => {
  test('higher priority runs first among queued tasks', async () => {
    const pool = makePool({ workers: 1, window: 1, longRunMs: 0 }) // the ring/queue semantics alone, no hand-off
    const order: string[] = []
    const block = pool.run('t.sleep', '{"ms":200}')
    const runs = [['low', 0], ['high', 5], ['mid', 2], ['high2', 5]].map(([name, priority]) =>
      pool.run('echo', JSON.stringify(name), { priority: priority as number }).then((b) => { order.push(JSON.parse(dec.decode(b))) }))
    await Promise.all([block, ...runs])
    expect(order).toEqual(['high', 'high2', 'mid', 'low'])
  })

  test('a high-priority task overtakes lower ones already waiting in a worker ring', async () => {
    const pool = makePool({ workers: 1, window: 128, longRunMs: 0 })
    await until(() => pool.alive === 1)
    const order: string[] = []
    const block = pool.run('t.sleep', '{"ms":200}')
    const lows = Array.from({ length: 50 }, (_, i) => pool.run('echo', `"low${i}"`).then(() => order.push('low')))
    // One running, 50 waiting: all in the worker's ring (the window has room), none in the main queue.
    expect(pool.stats()).toMatchObject({ running: 1, queued: 50 })
    const high = pool.run('echo', '"high"', { priority: 10 }).then(() => order.push('high'))
    await Promise.all([block, high, ...lows])
    expect(order[0]).toBe('high')
    expect(order.length).toBe(51)
  })

  test('queue_full past the queue limit, with retryAfter', async () => {
    const pool = makePool({ workers: 1, window: 1, queueLimit: 2, longRunMs: 0 })
    const block = pool.run('t.sleep', '{"ms":200}')
    await until(() => pool.stats().running === 1)
    const q = [pool.run('echo', '1'), pool.run('echo', '2')]
    const err = await pool.run('echo', '3').catch((e: AppError) => e)
    expect((err as AppError).code).toBe('queue_full')
    expect((err as AppError).retryAfter).toBeGreaterThan(0)
    await Promise.all([block, ...q])
  })

  test('queue_full counts tasks waiting in a worker ring too: a deep window does not widen the limit', async () => {
    const pool = makePool({ workers: 1, window: 1024, queueLimit: 5, longRunMs: 0 })
    await until(() => pool.alive === 1)
    const block = pool.run('t.sleep', '{"ms":200}')
    await until(() => pool.stats().running === 1)
    const waiting = Array.from({ length: 5 }, (_, i) => pool.run('echo', String(i)))
    expect(pool.stats()).toMatchObject({ running: 1, queued: 5 }) // all five in the worker's ring
    const err = await pool.run('echo', '6').catch((e: AppError) => e)
    expect((err as AppError).code).toBe('queue_full')
    await Promise.all([block, ...waiting])
    expect(await json(pool.run('echo', '7'))).toBe(7) // room again once they ran
  })

  test('queue wait covers the time a task waited in a worker ring behind another', async () => {
    const pool = makePool({ workers: 1, longRunMs: 0 }) // no hand-off: the echo stays behind the sleep
    await until(() => pool.alive === 1)
    await Promise.all([pool.run('t.sleep', '{"ms":120}'), pool.run('echo', '1')])
    const echo = pool.stats().tasks.echo
    expect(echo?.queueWaitMs.p50).toBeGreaterThanOrEqual(100) // it sat in the ring behind the sleep
    expect(echo?.runMs.p50).toBeLessThan(50)
  })

  test('no head-of-line blocking: short tasks behind a long one move to the idle worker', async () => {
    const pool = makePool({ workers: 2, window: 32 })
    await until(() => pool.alive === 2)
    const done: string[] = []
    const long = pool.run('t.spin', '{"ms":1500}').then(() => done.push('long'))
    const shorts = Array.from({ length: 40 }, (_, i) =>
      pool.run('t.spin', '{"ms":2}').then(() => done.push(`s${i}`)))
    await Promise.all([long, ...shorts])
    expect(done[done.length - 1]).toBe('long')
  }, 15_000)
})

describe('cancellation and deadlines', () => {
  test('aborting a queued task removes it: it never starts', async () => {
    const pool = makePool({ workers: 1, window: 1, longRunMs: 0 })
    const block = pool.run('t.sleep', '{"ms":150}')
    const ac = new AbortController()
    const queued = pool.run('t.count', '{}', { signal: ac.signal })
    ac.abort()
    expect(await codeOf(queued)).toBe('client_closed')
    await block
    expect(await json(pool.run('t.count', '{}'))).toBe(1)
    expect(pool.stats().tasks['t.count']?.canceled).toBe(1)
  })

  test('aborting a task waiting in a worker ring steals it back: it never starts', async () => {
    const pool = makePool({ workers: 1, window: 8, longRunMs: 0 })
    await until(() => pool.alive === 1)
    const block = pool.run('t.sleep', '{"ms":150}')
    const ac = new AbortController()
    const inRing = pool.run('t.count', '{}', { signal: ac.signal })
    await Bun.sleep(20)
    expect(pool.stats()).toMatchObject({ running: 1, queued: 1 }) // waiting in the worker's ring
    ac.abort(new AppError('deadline_exceeded'))
    expect(await codeOf(inRing)).toBe('deadline_exceeded') // the signal's AppError reason
    await block
    expect(await json(pool.run('t.count', '{}'))).toBe(1)
  })

  test('aborting a running task signals it; a cooperative task stops and the worker stays', async () => {
    const pool = makePool({ workers: 1, longRunMs: 0 }) // one worker, no overflow worker to count
    const ac = new AbortController()
    const running = pool.run('t.sleep', '{"ms":5000}', { signal: ac.signal })
    await until(() => pool.stats().running === 1)
    await Bun.sleep(20)
    ac.abort()
    expect(await codeOf(running)).toBe('client_closed')
    const sync = pool.run('t.spinCoop', '{"ms":5000}', { timeoutMs: 100 })
    expect(await codeOf(sync)).toBe('task_timeout')
    await Bun.sleep(500) // past the grace: a cooperative task let go, nothing is replaced
    expect(pool.stats().restarts).toBe(0)
    expect(await json(pool.run('echo', '7'))).toBe(7)
    expect(pool.stats().tasks['t.spinCoop']?.timedOut).toBe(1)
  })

  test('a task ignoring its deadline is answered task_timeout and its worker is replaced', async () => {
    const pool = makePool({ workers: 1, window: 4 })
    await until(() => pool.alive === 1) // else the deadline may pass while it waits for a worker
    const stuck = pool.run('t.spin', '{"ms":60000}', { timeoutMs: 100 })
    const behind = pool.run('echo', '"behind"')
    expect(await codeOf(stuck)).toBe('task_timeout')
    // The task queued behind it is moved to the replacement worker, not failed.
    expect(await json(behind)).toBe('behind')
    await until(() => pool.stats().restarts >= 1)
    expect(pool.stats().restarts).toBe(1)
    expect(await json(pool.run('echo', '1'))).toBe(1)
  }, 15_000)
})

describe('deadline sweep', () => {
  test('a task finishing past its deadline fails task_timeout even when no sweep ran in between', async () => {
    const pool = makePool({ workers: 1 })
    await until(() => pool.alive === 1)
    // The worker is busy for 30 ms; the deadline of 1 ms passes long before the result arrives.
    expect(await codeOf(pool.run('t.spin', '{"ms":30}', { timeoutMs: 1 }))).toBe('task_timeout')
    expect(pool.stats().tasks['t.spin']?.timedOut).toBe(1)
  })

  test('short tasks with a signal and a deadline all succeed and leave nothing armed behind', async () => {
    const pool = makePool({ queueLimit: 50_000 })
    const ac = new AbortController()
    const all = await Promise.all(Array.from({ length: 20_000 }, (_, i) => pool.run('echo', String(i), { signal: ac.signal, timeoutMs: 60_000 })))
    all.forEach((b, i) => { if (dec.decode(b) !== String(i)) throw new Error(`task ${i} got ${dec.decode(b)}`) })
    ac.abort() // after they settled: must not reach any of them
    await Bun.sleep(20)
    const echo = pool.stats().tasks['echo']
    expect(echo?.ok).toBe(20_000)
    expect((echo?.canceled ?? 0) + (echo?.timedOut ?? 0)).toBe(0)
  })

  test('one signal shared by long tasks cancels them all once they are armed', async () => {
    const pool = makePool({ workers: 2, window: 4 })
    await until(() => pool.alive === 2)
    const ac = new AbortController()
    const runs = Array.from({ length: 6 }, () => codeOf(pool.run('t.sleep', '{"ms":5000}', { signal: ac.signal, timeoutMs: 60_000 })))
    await Bun.sleep(50) // several sweeps: running ones and ring-held ones are armed with a listener
    ac.abort()
    expect(await Promise.all(runs)).toEqual(Array(6).fill('client_closed'))
    expect(await json(pool.run('echo', '1'))).toBe(1)
  })
})

describe('crashes', () => {
  test('a result is not held back behind a long task that follows it on the same worker', async () => {
    // A result must never wait for the task after it (e.g. were results published in batches).
    const pool = makePool({ workers: 1 })
    await until(() => pool.alive === 1)
    let heldWhenEchoArrived = -1
    const echo = pool.run('echo', '1').then(() => { heldWhenEchoArrived = pool.stats().running })
    const spin = pool.run('t.spin', '{"ms":1000}')
    await echo
    expect(heldWhenEchoArrived).toBe(1) // the spin task was still running
    await spin
  })

  test('results a worker finished before it crashed are delivered, not failed', async () => {
    // The echoes before t.exit reach the worker in one burst and finish before it dies.
    const pool = makePool({ workers: 1 })
    await until(() => pool.alive === 1)
    const echoes = Array.from({ length: 10 }, (_, i) => json(pool.run('echo', String(i))))
    const crash = codeOf(pool.run('t.exit', '{}'))
    expect(await Promise.all(echoes)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(await crash).toBe('worker_crashed')
    expect(pool.stats().tasks['echo']?.failed ?? 0).toBe(0)
  })

  test('a crash loop fails only the crashing tasks and the pool keeps serving', async () => {
    const pool = makePool({ workers: 2 })
    const crashing: Array<Promise<string>> = []
    const fine: Array<Promise<Uint8Array>> = []
    for (let i = 0; i < 12; i++) {
      crashing.push(codeOf(pool.run(i % 2 ? 't.exit' : 't.uncaught', '{}')))
      for (let k = 0; k < 5; k++) fine.push(pool.run('echo', String(i * 10 + k)))
    }
    const codes = await Promise.all(crashing)
    expect(codes.every((c) => c === 'worker_crashed')).toBe(true)
    // Tasks sharing a worker with a crashing one are either done or failed with worker_crashed,
    // never lost or hung.
    const settled = await Promise.allSettled(fine)
    for (const s of settled) {
      if (s.status === 'rejected') expect((s.reason as AppError).code).toBe('worker_crashed')
    }
    expect(settled.filter((s) => s.status === 'fulfilled').length).toBeGreaterThan(0)
    expect(pool.stats().restarts).toBeGreaterThanOrEqual(12)
    expect(await json(pool.run('echo', '"alive"'))).toBe('alive')
    expect(pool.stats().tasks['t.exit']?.failed).toBe(6)
  }, 25_000)

  test('workers that cannot even start fail queued tasks instead of hanging them', async () => {
    const pool = makePool({ workers: 1, extraTasks: new URL('./fixtures/broken-tasks.ts', import.meta.url) })
    expect(await codeOf(pool.run('echo', '1'))).toBe('worker_crashed')
    expect(pool.alive).toBe(0)
    await pool.close(100)
  })
})

describe('close', () => {
  test('drains: in-flight tasks finish, new ones get pool_closed, workers exit', async () => {
    const pool = makePool({ workers: 2 })
    const inflight = [pool.run('t.sleep', '{"ms":150}'), pool.run('t.sleep', '{"ms":100}'), pool.run('echo', '1')]
    await Bun.sleep(10)
    const closing = pool.close(5000)
    expect(await codeOf(pool.run('echo', '1'))).toBe('pool_closed')
    const results = await Promise.all(inflight)
    expect(results.length).toBe(3)
    await closing
    expect(pool.stats().alive).toBe(0)
  })

  test('the timeout bounds the drain: leftovers fail with pool_closed', async () => {
    const pool = makePool({ workers: 1 })
    const stuck = codeOf(pool.run('t.spin', '{"ms":30000}'))
    await until(() => pool.stats().running === 1)
    const t0 = performance.now()
    await pool.close(200)
    expect(await stuck).toBe('pool_closed')
    expect(performance.now() - t0).toBeLessThan(5000)
  })
})

test.each(['message', 'waitAsync'] as const)('an idle pool costs ~0 %% CPU (no busy polling), wake mode %s', async (wake) => {
  const pool = makePool({ workers: 2, wake })
  await until(() => pool.alive === 2)
  for (let i = 0; i < 100; i++) await pool.run('echo', '1')
  await Bun.sleep(300) // let worker spin budgets decay
  const before = process.cpuUsage()
  const t0 = performance.now()
  await Bun.sleep(1000)
  const used = process.cpuUsage(before)
  const cpuMs = (used.user + used.system) / 1000
  const wallMs = performance.now() - t0
  // Three threads busy-polling would show ~3000 ms; generous bound for a loaded machine.
  expect(cpuMs / wallMs).toBeLessThan(0.15)
})

test('a pool left open does not keep the process alive once its tasks are done', async () => {
  const proc = Bun.spawn([process.execPath, new URL('./fixtures/open-pool.ts', import.meta.url).pathname], { stdout: 'pipe', stderr: 'pipe' })
  const killer = setTimeout(() => proc.kill(), 15_000)
  const code = await proc.exited
  clearTimeout(killer)
  expect(await new Response(proc.stdout).text()).toBe('"hi"\n')
  expect(code).toBe(0)
}, 20_000)

test('the waitAsync wake mode delivers every result too', async () => {
  const pool = makePool({ workers: 2, wake: 'waitAsync', queueLimit: 50_000 })
  const all = await Promise.all(Array.from({ length: 20_000 }, (_, i) => pool.run('echo', String(i))))
  all.forEach((b, i) => { if (dec.decode(b) !== String(i)) throw new Error(`task ${i} got ${dec.decode(b)}`) })
  for (let i = 0; i < 200; i++) expect(await json(pool.run('echo', String(i)))).toBe(i) // one at a time: park and wake each time
})
