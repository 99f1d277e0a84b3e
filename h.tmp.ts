import { createApp } from './src/app.ts'
import { testDeps } from './test/support/deps.ts'
const t = await testDeps({ workers: 1 })
const app = createApp(t.deps)
for (const [m, u, b] of [['GET','/jobs?state=bogus'],['GET','/users?limit=abc'],['GET','/users?limit=5&foo=1'],['POST','/users','{"name":"a","email":"a@b.co","admin":true}'],['POST','/jobs','{"task":"x","bogus":1}'],['POST','/api/cars','{"make":"a","model":"b","year":2000,"fuel":"steam"}'],['GET','/tasks/fib?timeoutMs=abc']] as const) {
  const r = await app.handle(new Request('http://l'+u, { method: m, body: b, headers: b ? {'content-type':'application/json'} : {} }))
  console.log(m, u, r.status, await r.text())
}
await t.close()
