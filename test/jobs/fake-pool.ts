/**
 * A small in-test TaskRunner for runner unit tests: `echo` returns its input bytes, `sleep`
 * waits `ms` honouring the signal and reporting progress, `fail` throws task_failed, `flaky`
 * fails until its n-th call, `bad` throws invalid_input, `crash` throws worker_crashed.
 * Integration tests use the real pool instead.
 */
import { AppError } from '../../src/errors.ts'
import type { PoolStats, RunOptions, TaskRunner } from '../../src/pool/types.ts'
import type { TaskInfo } from '../../src/tasks/types.ts'

const enc = new TextEncoder()
const dec = new TextDecoder()

export interface FakeCall {
  task: string
  input: string
  options: RunOptions
}

export class FakePool implements TaskRunner {
  readonly calls: FakeCall[] = []
  inFlight = 0
  maxInFlight = 0
  flakyFailures = 2
  #flakyCount = new Map<string, number>()

  catalog(): readonly TaskInfo[] {
    return ['echo', 'sleep', 'fail', 'flaky', 'bad', 'crash', 'double'].map((name) => ({ name, summary: name, input: {} }))
  }

  stats(): PoolStats {
    return { workers: 1, alive: 1, queued: 0, running: this.inFlight, queueLimit: 100, utilization: [0], restarts: 0, tasks: {} }
  }

  async run(task: string, input: string | Uint8Array, options: RunOptions = {}): Promise<Uint8Array> {
    const text = typeof input === 'string' ? input : dec.decode(input)
    this.calls.push({ task, input: text, options })
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    try {
      return await this.#run(task, text, options)
    } finally {
      this.inFlight--
    }
  }

  async #run(task: string, text: string, options: RunOptions): Promise<Uint8Array> {
    await Promise.resolve()
    if (options.signal?.aborted) throw new AppError('client_closed', 'canceled')
    switch (task) {
      case 'echo':
        return enc.encode(text)
      case 'double': {
        const v = JSON.parse(text) as { n: number }
        return enc.encode(JSON.stringify({ n: v.n * 2 }))
      }
      case 'sleep': {
        const { ms, steps = 1 } = JSON.parse(text) as { ms: number; steps?: number }
        for (let i = 1; i <= steps; i++) {
          await new Promise<void>((resolve, reject) => {
            const timeout = options.timeoutMs !== undefined && options.timeoutMs < ms / steps
            const t = setTimeout(() => (timeout ? reject(new AppError('task_timeout', 'timed out')) : resolve()), timeout ? options.timeoutMs : ms / steps)
            options.signal?.addEventListener('abort', () => { clearTimeout(t); reject(new AppError('client_closed', 'canceled')) }, { once: true })
          })
          options.onProgress?.(Math.round((100 * i) / steps), `step ${i}`)
        }
        return enc.encode(`{"slept":${ms}}`)
      }
      case 'fail':
        throw new AppError('task_failed', 'it broke')
      case 'flaky': {
        const n = (this.#flakyCount.get(text) ?? 0) + 1
        this.#flakyCount.set(text, n)
        if (n <= this.flakyFailures) throw new AppError('task_failed', `flaky failure ${n}`)
        return enc.encode(`{"calls":${n}}`)
      }
      case 'bad':
        throw new AppError('invalid_input', 'input does not match')
      case 'crash':
        throw new AppError('worker_crashed', 'worker died')
      default:
        throw new AppError('unknown_task', `no task ${task}`)
    }
  }
}
