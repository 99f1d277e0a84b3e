// The OpenAPI document of a real server (spawned, over HTTP) passes a strict OpenAPI 3.1 validator,
// and named schemas are declared once in components.schemas and referenced with $ref.
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Validator } from '@seriousme/openapi-schema-validator'
import { freePort, spawnHighperf, waitHealthy, type Spawned } from '../support/process.ts'
import { withComponents } from '../../src/routes/docs/components.ts'
import { named } from '../../src/routes/schemas.ts'
import { t } from 'elysia'

const dataDir = mkdtempSync(join(tmpdir(), 'highperf-openapi-'))
const port = freePort()
let server: Spawned | undefined
afterAll(async () => {
  server?.proc.kill('SIGKILL')
  await server?.proc.exited
  rmSync(dataDir, { recursive: true, force: true })
})

async function liveDocument(): Promise<Record<string, unknown>> {
  server = spawnHighperf([process.execPath, 'run', 'src/main.ts'], {
    PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, WORKERS: '1', ACCESS_LOG: 'off', LOG_LEVEL: 'warn', RATE_LIMIT_RPS: '0',
  })
  await waitHealthy(`http://127.0.0.1:${port}/readyz`, server.proc)
  const res = await fetch(`http://127.0.0.1:${port}/swagger/json`)
  expect(res.status).toBe(200)
  return (await res.json()) as Record<string, unknown>
}

/** Every `$ref` value in the document. */
function refsOf(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) refsOf(n, out)
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v)
      else refsOf(v, out)
    }
  }
  return out
}

test('/swagger/json of a running server is a valid OpenAPI 3.1 document with named components behind its $refs', async () => {
  const doc = await liveDocument()
  const result = await new Validator().validate(doc)
  expect(result.errors ?? []).toEqual([])
  expect(result.valid).toBe(true)

  const schemas = (doc.components as { schemas: Record<string, { title?: string; $id?: string }> }).schemas
  for (const name of ['Error', 'User', 'NewUser', 'UserPage', 'Message', 'Job', 'JobSubmit', 'JobList', 'TaskList']) {
    expect(schemas[name]?.title).toBe(name)
  }
  const refs = refsOf(doc.paths)
  // The error envelope is declared once and referenced from every error response.
  expect(refs.filter((r) => r === '#/components/schemas/Error').length).toBeGreaterThan(30)
  expect(JSON.stringify(doc.paths)).not.toContain('"title":"Error"')
  // Every $ref (in paths and inside components) resolves to a declared component.
  for (const ref of [...refs, ...refsOf(schemas)]) expect(Object.keys(schemas)).toContain(ref.replace('#/components/schemas/', ''))
  // A component's integers stay integers (Elysia's model path would make User.id string|integer).
  expect(JSON.stringify(schemas.User)).toContain('"id":{"minimum":1,"examples":[1],"type":"integer"}')
}, 60_000)

test('a second copy of a name that differs from the first stays inline rather than aliasing another schema', () => {
  named('Thing', t.Object({}))
  const a = { title: 'Thing', type: 'object', properties: { a: { type: 'string' } } }
  const b = { title: 'Thing', type: 'object', properties: { b: { type: 'integer' } } }
  const doc = withComponents({ paths: { '/x': { get: { a, b, again: { ...a } } } } })
  const op = (doc.paths as Record<string, Record<string, Record<string, unknown>>>)['/x']!.get!
  expect(op.a).toEqual({ $ref: '#/components/schemas/Thing' })
  expect(op.again).toEqual({ $ref: '#/components/schemas/Thing' })
  expect(op.b).toEqual(b)
  expect((doc as unknown as { components: { schemas: Record<string, unknown> } }).components.schemas.Thing).toEqual(a)
})
