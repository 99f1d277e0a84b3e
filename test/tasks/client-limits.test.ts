/**
 * src/tasks/client-limits.ts: the catalogue's size bounds never promise more than a request body
 * of MAX_BODY_SIZE can carry (issue 11, item 9: `text` said 8 MiB while bodies stop at 1 MiB).
 */
import { describe, expect, test } from 'bun:test'
import { clientSchema } from '../../src/tasks/client-limits.ts'
import { createExecutor } from '../../src/tasks/execute.ts'
import { TASKS } from '../../src/tasks/registry.ts'

/** Every `maxLength`/`maxItems` in a schema, walked through its keywords. */
function bounds(schema: unknown, out: number[] = []): number[] {
  if (schema === null || typeof schema !== 'object') return out
  for (const [key, value] of Object.entries(schema)) {
    if ((key === 'maxLength' || key === 'maxItems') && typeof value === 'number') out.push(value)
    else if (key !== 'examples' && key !== 'default') bounds(value, out)
  }
  return out
}

describe('clientSchema', () => {
  test('clamps maxLength to the body size minus the quotes and maxItems to what commas and brackets leave', () => {
    expect(clientSchema({ type: 'string', maxLength: 8_388_608 }, 1_048_576)).toEqual({ type: 'string', maxLength: 1_048_574 })
    expect(clientSchema({ type: 'array', maxItems: 1_000_000, items: { type: 'string', maxLength: 10 } }, 1001)).toEqual({ type: 'array', maxItems: 500, items: { type: 'string', maxLength: 10 } })
    expect(clientSchema({ type: 'string', maxLength: 100 }, 1_048_576)).toEqual({ type: 'string', maxLength: 100 })
  })

  test('walks schema keywords only: data (examples, defaults, enums) and a property named maxLength keep their values', () => {
    const schema = {
      type: 'object',
      examples: [{ maxLength: 9e9 }],
      properties: { maxLength: { type: 'integer', maximum: 9e9 }, s: { anyOf: [{ type: 'string', maxLength: 9e9 }, { type: 'null' }] } },
      additionalProperties: { type: 'string', maxLength: 9e9 },
    }
    expect(clientSchema(schema, 1000)).toEqual({
      type: 'object',
      examples: [{ maxLength: 9e9 }],
      properties: { maxLength: { type: 'integer', maximum: 9e9 }, s: { anyOf: [{ type: 'string', maxLength: 998 }, { type: 'null' }] } },
      additionalProperties: { type: 'string', maxLength: 998 },
    })
  })

  test('no bound of any registered task exceeds the default body size once clamped; the workers keep their own', () => {
    const catalog = createExecutor(TASKS).catalog()
    expect(Math.max(...catalog.flatMap((t) => bounds(t.input)))).toBeGreaterThan(1 << 20)
    for (const task of catalog) {
      for (const b of bounds(clientSchema(task.input, 1 << 20))) expect({ task: task.name, b: b <= (1 << 20) }).toEqual({ task: task.name, b: true })
    }
  })
})
