import { afterAll, describe, expect, test } from 'bun:test'
import { Elysia, t } from 'elysia'
import { FormatRegistry } from '@sinclair/typebox'
import { createApp } from '../../src/app.ts'
import { VERSION } from '../../src/version.ts'
import { ASSETS_PATH, SPEC_PATH, SWAGGER_PATH, openapiDocs } from '../../src/routes/docs/index.ts'
import { testDeps } from '../support/deps.ts'

// The whole app, so the document is checked against every route the other parts mount.
const deps = await testDeps()
afterAll(() => deps.close())
const app = createApp(deps.deps)
// Elysia's format checks as it registered them, before anything generated a document.
const ELYSIA_FORMATS = FormatRegistry.Entries()
const get = (path: string, headers: Record<string, string> = {}) => app.handle(new Request(`http://localhost${path}`, { headers }))

interface Operation { summary?: string; responses?: Record<string, unknown> }
interface Spec { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>> }
const spec = async (): Promise<Spec> => (await (await get(SPEC_PATH)).json()) as Spec

/** `/users/:id` -> `/users/{id}`, as OpenAPI writes path parameters. */
const openapiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}')

describe('openapi', () => {
  test('the Swagger UI page loads its script and stylesheet from highperf itself, never a CDN', async () => {
    const res = await get(SWAGGER_PATH)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/html')
    const html = await res.text()
    expect(html).toContain(`<script src="${ASSETS_PATH}/swagger-ui-bundle.js"`)
    expect(html).toContain(`href="${ASSETS_PATH}/swagger-ui.css"`)
    expect(html).toContain('<title>highperf</title>')
    // No absolute URL to another host anywhere in the page (unpkg, jsdelivr, validator.swagger.io).
    expect(html).not.toMatch(/(src|href)="https?:/)
    expect(html).not.toContain('unpkg')
    // The start script is a file (the page's CSP allows no inline script); the document's URL in
    // it is absolute, so the page also works as /swagger/ (a relative URL would resolve under it).
    expect(html).toContain(`<script src="${ASSETS_PATH}/init.js"`)
    expect(await (await get(`${ASSETS_PATH}/init.js`)).text()).toContain(`"url":"${SPEC_PATH}"`)
    expect((await get(`${SWAGGER_PATH}/`)).status).toBe(200)
  })

  test('the document is OpenAPI 3 titled highperf with the build version', async () => {
    const res = await get(SPEC_PATH)
    expect(res.status).toBe(200)
    const doc = await spec()
    expect(doc.openapi).toMatch(/^3\./)
    expect(doc.info).toMatchObject({ title: 'highperf', version: VERSION })
    expect(doc.paths['/healthz']?.get?.summary).toBeString()
    expect(doc.paths['/readyz']?.get?.responses).toHaveProperty('503')
  })

  test('every route of the app is documented with a summary, and the docs themselves are not', async () => {
    const doc = await spec()
    const missing: string[] = []
    for (const route of app.elysia.routes) {
      // The docs themselves, and static files (the plugin leaves out any path with a dot: the status page's assets).
      if (route.path.startsWith(SWAGGER_PATH) || route.path.includes('.')) continue
      const op = doc.paths[openapiPath(route.path)]?.[route.method.toLowerCase()]
      if (!op || typeof op.summary !== 'string' || op.summary === '') missing.push(`${route.method} ${route.path}`)
    }
    expect(missing).toEqual([])
    expect(Object.keys(doc.paths).filter((p) => p.startsWith(SWAGGER_PATH))).toEqual([])
  })

  test('routes mounted after the plugin are documented too', async () => {
    const late = new Elysia()
      .use(openapiDocs())
      .use(new Elysia().get('/late/:id', ({ params }) => params.id, { params: t.Object({ id: t.String() }), detail: { summary: 'late' } }))
    const doc = (await (await late.handle(new Request(`http://localhost${SPEC_PATH}`))).json()) as Spec
    expect(doc.paths['/late/{id}']?.get?.summary).toBe('late')
  })

  test('the assets are the swagger-ui-dist files, cacheable, gzipped on request, 304 on a matching ETag', async () => {
    const js = await get(`${ASSETS_PATH}/swagger-ui-bundle.js`)
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toContain('javascript')
    const expected = await Bun.file(Bun.resolveSync('swagger-ui-dist/swagger-ui-bundle.js', import.meta.dir)).bytes()
    expect((await js.bytes()).length).toBe(expected.length)
    const etag = js.headers.get('etag')
    expect(etag).toBeString()
    expect(js.headers.get('cache-control')).toContain('max-age')

    // The gzip copy is made off the event loop after the first request that accepts it; until
    // then the plain bytes go out.
    let zipped = await get(`${ASSETS_PATH}/swagger-ui-bundle.js`, { 'accept-encoding': 'gzip, br' })
    for (let i = 0; i < 500 && zipped.headers.get('content-encoding') !== 'gzip'; i++) {
      await Bun.sleep(10)
      zipped = await get(`${ASSETS_PATH}/swagger-ui-bundle.js`, { 'accept-encoding': 'gzip, br' })
    }
    expect(zipped.headers.get('content-encoding')).toBe('gzip')
    const raw = new Uint8Array(await zipped.arrayBuffer())
    // app.handle does not decode: the body is the gzip stream itself.
    expect(Bun.gunzipSync(raw).length).toBe(expected.length)
    expect(raw.length).toBeLessThan(expected.length / 2)

    const again = await get(`${ASSETS_PATH}/swagger-ui-bundle.js`, { 'if-none-match': etag ?? '' })
    expect(again.status).toBe(304)
    expect(await again.text()).toBe('')

    const css = await get(`${ASSETS_PATH}/swagger-ui.css`)
    expect(css.status).toBe(200)
    expect(css.headers.get('content-type')).toContain('text/css')
    expect(await css.text()).toContain('.swagger-ui')
  })

  test("validation keeps Elysia's format checks: generating the document does not swap them", async () => {
    // @elysiajs/openapi's index (through @sinclair/typemap) swaps email, uuid, date... for Zod
    // checks that build a schema per call (GET /users/:id's profile was ~40 % Zod); the document
    // is made with the generator alone, which leaves them alone.
    expect((await get(SPEC_PATH)).status).toBe(200)
    for (const name of ['email', 'uuid', 'date', 'ipv4', 'uri']) {
      expect(ELYSIA_FORMATS.has(name)).toBe(true)
      expect(FormatRegistry.Get(name)).toBe(ELYSIA_FORMATS.get(name) as (value: string) => boolean)
    }
    const email = FormatRegistry.Get('email') as (value: string) => boolean
    expect(email('ada@example.com')).toBe(true)
    expect(email('not an email')).toBe(false)
    // And a route with an email format still rejects a bad one (422, the failing field named).
    const strict = new Elysia().use(openapiDocs()).post('/e', ({ body }) => body, { body: t.Object({ email: t.String({ format: 'email' }) }) })
    expect((await strict.handle(new Request(`http://localhost${SPEC_PATH}`))).status).toBe(200)
    const bad = await strict.handle(new Request('http://localhost/e', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":"nope"}' }))
    expect(bad.status).toBe(422)
    const good = await strict.handle(new Request('http://localhost/e', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":"a@b.co"}' }))
    expect(good.status).toBe(200)
  })

  test('an unknown asset is a JSON 404, not a file from elsewhere', async () => {
    for (const path of [`${ASSETS_PATH}/index.html`, `${ASSETS_PATH}/..%2f..%2fpackage.json`]) {
      const res = await get(path)
      expect(res.status).toBe(404)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('route_not_found')
    }
  })
})
