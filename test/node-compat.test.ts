import { describe, expect, test } from 'bun:test'
import * as dc from 'node:diagnostics_channel'
import { fillTracingChannelHasSubscribers } from '../src/node-compat.ts'

describe('fillTracingChannelHasSubscribers', () => {
  test('adds Node’s getter once: false while nobody listens, true with a subscriber on any part', () => {
    fillTracingChannelHasSubscribers()
    expect(fillTracingChannelHasSubscribers()).toBe(false)
    // ioredis reaches the module through process.getBuiltinModule: the same class.
    const mod = process.getBuiltinModule('node:diagnostics_channel') as typeof dc
    const ch = mod.tracingChannel('highperf:test-tracing')
    expect(ch.hasSubscribers).toBe(false)
    const fn = (): void => {}
    ch.asyncEnd.subscribe(fn)
    expect(ch.hasSubscribers).toBe(true)
    ch.asyncEnd.unsubscribe(fn)
    expect(ch.hasSubscribers).toBe(false)
  })

  test('ioredis then skips its per-command trace context while nobody listens', async () => {
    fillTracingChannelHasSubscribers()
    const { traceCommand } = (await import('ioredis/built/tracing.js')) as { traceCommand(fn: () => Promise<unknown>, ctx: () => unknown): Promise<unknown> }
    let built = 0
    const p = Promise.resolve(1)
    expect(traceCommand(() => p, () => { built++; return {} })).toBe(p)
    expect(built).toBe(0)
  })
})
