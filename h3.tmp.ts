import { createRoutes } from './src/app.ts'
import { testDeps } from './test/support/deps.ts'
const t = await testDeps({ workers: 1 })
for (const r of createRoutes(t.deps).routes) if (r.path === '/users' && r.method === 'POST') console.log(r.hooks.body.additionalProperties, Object.keys(r.hooks.body), r.hooks.body === undefined)
await t.close()
