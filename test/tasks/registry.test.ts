import { describe, expect, test } from 'bun:test'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { TASKS } from '../../src/tasks/registry.ts'
import { createExecutor } from '../../src/tasks/execute.ts'
import { AppError } from '../../src/errors.ts'
import { MAX_JSON_DEPTH } from '../../src/json/depth.ts'
import { testContext } from './support.ts'

describe('task registry', () => {
  test('holds every built-in task once, sorted by name', () => {
    const names = TASKS.map((t) => t.name)
    expect(names).toEqual(['cars.lookup', 'compress', 'decompress', 'echo', 'hash', 'json.stats', 'primes', 'sleep'])
    expect(new Set(names).size).toBe(names.length)
  })

  test('every task has a summary and an example that passes its own schema and runs', async () => {
    const exec = createExecutor(TASKS)
    for (const def of TASKS) {
      expect(def.summary.length).toBeGreaterThan(10)
      expect(def.example).toBeDefined()
      expect(TypeCompiler.Compile(def.input).Check(def.example)).toBe(true)
      const result = await exec.run(def.name, JSON.stringify(def.example), testContext())
      expect(JSON.parse(JSON.stringify(result))).toEqual(result as never)
    }
  })

  test('runAt runs a task by its catalogue index exactly as run does by name, and an unknown index is unknown_task', () => {
    const exec = createExecutor(TASKS)
    const catalog = exec.catalog()
    catalog.forEach((info, i) => {
      if (info.name === 'sleep') return // asynchronous; covered by its own tests
      const input = JSON.stringify(info.example)
      expect(JSON.stringify(exec.runAt(i, input, testContext()))).toBe(JSON.stringify(exec.run(info.name, input, testContext())))
    })
    let caught: unknown
    try { exec.runAt(catalog.length, '{}', testContext()) } catch (e) { caught = e }
    expect((caught as AppError).code).toBe('unknown_task')
  })

  test('the catalogue is plain JSON: names, summaries, schemas and examples', () => {
    const catalog = createExecutor(TASKS).catalog()
    expect(JSON.parse(JSON.stringify(catalog))).toEqual(catalog)
    const primes = catalog.find((t) => t.name === 'primes')
    expect(primes?.input).toMatchObject({ type: 'object', properties: { n: { type: 'integer' } } })
    expect(primes?.example).toEqual({ n: 1_000_000 })
  })

  test('schemas reject unknown properties, so a typo is a 422 and not a silent default', () => {
    const exec = createExecutor(TASKS)
    for (const [name, input] of [['hash', { txt: 'a' }], ['primes', { n: 5, m: 1 }], ['sleep', { ms: 1, step: 2 }], ['cars.lookup', { id: 1, x: 1 }]] as const) {
      let caught: unknown
      try { exec.run(name, JSON.stringify(input), testContext()) } catch (e) { caught = e }
      expect(caught).toBeInstanceOf(AppError)
      expect((caught as AppError).code).toBe('invalid_input')
    }
  })

  test('an input nested past MAX_JSON_DEPTH is too_deep before any check or handler runs (50 000 levels used to overflow the stack)', () => {
    const exec = createExecutor(TASKS)
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n)
    for (const [name, input] of [['echo', deep(50_000)], ['json.stats', `{"field":"a","items":${deep(50_000)}}`], ['hash', `{"text":${deep(100)}}`]] as const) {
      let caught: unknown
      try { exec.run(name, input, testContext()) } catch (e) { caught = e }
      expect(caught).toBeInstanceOf(AppError)
      expect({ name, code: (caught as AppError).code }).toEqual({ name, code: 'too_deep' })
      expect((caught as AppError).message).toBe(`JSON nesting deeper than ${MAX_JSON_DEPTH} levels in the input of task '${name}'`)
    }
    // The limit itself passes: echo gives back a value nested exactly MAX_JSON_DEPTH levels.
    expect(JSON.stringify(exec.run('echo', deep(MAX_JSON_DEPTH), testContext()))).toBe(deep(MAX_JSON_DEPTH))
  })
})
