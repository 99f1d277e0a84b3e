import { createApp } from './src/app.ts'
import { testDeps } from './test/support/deps.ts'
const t = await testDeps({ workers: 1 })
const app = createApp(t.deps)
const doc = await (await app.handle(new Request('http://l/swagger/json'))).json() as any
for (const [p, ops] of Object.entries(doc.paths) as any) for (const [m, op] of Object.entries(ops) as any) {
  const rb = op.requestBody?.content?.['application/json']?.schema
  if (rb) console.log(m, p, rb.additionalProperties, JSON.stringify(rb.properties?.items?.items?.additionalProperties))
}
await t.close()
