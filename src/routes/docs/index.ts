/**
 * OpenAPI document and Swagger UI, served entirely by highperf: `GET /swagger` is the UI,
 * `GET /swagger/json` the OpenAPI 3.1 document of every route, `GET /swagger/assets/*` the UI's
 * script and stylesheet from the `swagger-ui-dist` package.
 *
 * Why local assets: `@elysiajs/openapi` loads Swagger UI from unpkg by default, and servers often
 * have no internet access; `/swagger` must work offline. The assets are imported with
 * `{ type: 'file' }`, so `bun build --compile` embeds them in the binary (test/binary.test.ts
 * checks that they load from a binary copied alone into an empty directory).
 *
 * The page is highperf's own: every script and style is a file under /swagger/assets, none
 * inline, so the page carries a strict Content-Security-Policy ({@link SWAGGER_CSP}: scripts,
 * styles and fetches from this origin only, no framing) and `X-Frame-Options: DENY` (older
 * browsers' word for `frame-ancestors 'none'`), without a hash or nonce to keep in step with an
 * inline script.
 *
 * The document is made on the first `GET /swagger/json`, not at start: the generator
 * (`toOpenAPISchema` of `@elysiajs/openapi/openapi`, the function the plugin itself calls) is
 * imported then. An idle server never loads it, and the plugin's index, which also bundles
 * `@sinclair/typemap` with Zod and Valibot, is not loaded at all (it replaced TypeBox's global
 * `email`, `uuid`, … format checks with Zod ones that cost a Zod object per validation). What that
 * buys, with the compiled binary's `--splitting` (scripts/build.ts): ~0.5 MB of idle RSS
 * (docs/operations.md#startup-time-and-memory). The document is the plugin's, byte for byte.
 *
 * The document covers every route of the app whatever the order of `.use()`: it is read from the
 * route table of the whole app (`getGlobalRoutes`) when `/swagger/json` is first requested (and
 * again when the table has grown), so `createApp` may mount it anywhere. Schemas named with
 * `named()` (src/routes/schemas.ts) appear once in `components.schemas` and as `$ref`s
 * (./components.ts).
 *
 * @example
 * ```ts
 * new Elysia().use(openapiDocs()).use(healthRoutes(lifecycle))
 * // GET /swagger       -> Swagger UI (HTML)
 * // GET /swagger/json  -> {"info":{"title":"highperf",...},"openapi":"3.1.2","paths":{...}}
 * ```
 */
import { Elysia } from 'elysia'
import bundleFile from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' }
import cssFile from 'swagger-ui-dist/swagger-ui.css' with { type: 'file' }
import swaggerPkg from 'swagger-ui-dist/package.json' with { type: 'json' }
import { VERSION } from '../../version.ts'
import { componentsOnce } from './components.ts'

/** Where the Swagger UI page is served. */
export const SWAGGER_PATH = '/swagger'
/** Where the OpenAPI document is served. */
export const SPEC_PATH = '/swagger/json'
/** Prefix of the UI's own script and stylesheet. */
export const ASSETS_PATH = '/swagger/assets'

/**
 * The Swagger page's Content-Security-Policy: nothing but this origin's own scripts, styles and
 * fetches (the OpenAPI document), images from here or `data:` (Swagger UI's icons are data URIs
 * in its stylesheet), no inline script, no plugin, no `<base>`, no form posts, no framing.
 */
export const SWAGGER_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"

/** Headers of the Swagger page (the HTML; its assets are scripts and styles, never framed as pages). */
const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': SWAGGER_CSP,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
}

/** Escapes text for HTML (the title and description come from code, but stay escaped). */
const html = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** The Swagger UI page: the bundle, the stylesheet and the start script, all from /swagger/assets. */
function swaggerPage(title: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${html(title)}</title>
<link rel="stylesheet" href="${ASSETS_PATH}/swagger-ui.css">
<link rel="stylesheet" href="${ASSETS_PATH}/page.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="${ASSETS_PATH}/init.js"></script>
</body>
</html>
`
}

/**
 * The start script, a file rather than an inline script so the CSP needs no `'unsafe-inline'`.
 * `validatorUrl: 'none'` keeps the UI from sending the document to validator.swagger.io (the CSP
 * would block it anyway); the document's URL is absolute, so /swagger/ finds it too.
 */
const INIT_JS = `window.ui = SwaggerUIBundle(${JSON.stringify({ url: SPEC_PATH, dom_id: '#swagger-ui', validatorUrl: 'none', tryItOutEnabled: false })});
`

/** The plugin's dark-mode rules, as a file for the same reason. */
const PAGE_CSS = `@media (prefers-color-scheme: dark) {
  body { background-color: #222; }
  .swagger-ui { filter: invert(92%) hue-rotate(180deg); }
  .swagger-ui .microlight { filter: invert(100%) hue-rotate(180deg); }
}
`

/** A small text asset of our own, with the same caching as the package's. */
function ownAsset(body: string, type: string, name: string): (request: Request) => Response {
  const etag = `"highperf-${VERSION}-${name}-${Bun.hash(body).toString(36)}"`
  const headers = { 'content-type': type, 'cache-control': 'public, max-age=86400', etag }
  return (request) => request.headers.get('if-none-match') === etag ? new Response(null, { status: 304, headers }) : new Response(body, { headers })
}

/** One static asset, read and compressed on first use (idle RSS stays small until someone opens the UI). */
class Asset {
  readonly #file: string
  readonly #type: string
  readonly #etag: string
  #plain: Uint8Array | undefined
  #gzip: Uint8Array | undefined
  #compressing = false

  constructor(file: string, type: string, name: string) {
    this.#file = file
    this.#type = type
    // The package version identifies the bytes: no hashing at start.
    this.#etag = `"swagger-ui-dist-${swaggerPkg.version}-${name}"`
  }

  /** The asset as a response: 304 on a matching `If-None-Match`, gzip when the client takes it and it is ready. */
  async respond(request: Request): Promise<Response> {
    const headers: Record<string, string> = {
      'content-type': this.#type,
      'cache-control': 'public, max-age=86400',
      etag: this.#etag,
      vary: 'accept-encoding',
    }
    if (request.headers.get('if-none-match') === this.#etag) return new Response(null, { status: 304, headers })
    // Embedded files cannot go out through sendfile anyway, so the bytes are held in memory once.
    this.#plain ??= await Bun.file(this.#file).bytes()
    if (/\bgzip\b/.test(request.headers.get('accept-encoding') ?? '')) {
      if (this.#gzip) {
        headers['content-encoding'] = 'gzip'
        return new Response(this.#gzip, { headers })
      }
      this.#compress(this.#plain)
    }
    return new Response(this.#plain, { headers })
  }

  /**
   * Gzips the asset once, off the event loop (node:zlib's thread pool): the 1.7 MB bundle takes
   * ~30 ms to compress to ~0.5 MB, which must not stall other requests or run into a request
   * deadline. Until it is ready the plain bytes are sent.
   */
  #compress(plain: Uint8Array): void {
    if (this.#compressing) return
    this.#compressing = true
    // node:zlib is loaded here, on the first gzip request, not at start: importing it costs the
    // compiled binary ~9 ms of start-up (docs/operations.md#startup-time-and-memory).
    import('node:zlib').then(
      ({ gzip }) => gzip(plain, (err, out) => {
        if (err) this.#compressing = false
        else this.#gzip = new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
      }),
      () => { this.#compressing = false },
    )
  }
}

/** The OpenAPI version the document declares (the plugin's default). */
export const OPENAPI_VERSION = '3.1.2'

/** The document's `info`, in the key order the plugin wrote it (its defaults' order). */
const INFO = {
  title: 'highperf',
  description: 'A Bun-native, single-binary, high-performance API server. Every non-2xx JSON body is ' +
    '{"error":{"code","message","requestId","details"?}}.',
  version: VERSION,
}

/**
 * The document of every route `app` belongs to, as `@elysiajs/openapi`'s plugin builds it (same
 * generator, same keys in the same order), with the components pass applied. The generator is
 * imported on the first call.
 */
async function makeDocument(app: Elysia): Promise<object> {
  const { toOpenAPISchema } = await import('@elysiajs/openapi/openapi')
  const { paths, components } = toOpenAPISchema(app, undefined, undefined, undefined, OPENAPI_VERSION)
  return componentsOnce({ info: INFO, openapi: OPENAPI_VERSION, paths: { ...paths }, components: { schemas: { ...components.schemas } } })
}

/**
 * Elysia plugin: the OpenAPI document, the Swagger UI page and its assets, all served locally.
 *
 * @example
 * ```ts
 * createApp(deps) // mounts it: new Elysia().use(openapiDocs()) ...
 * ```
 */
export function openapiDocs() {
  const bundle = new Asset(bundleFile, 'text/javascript; charset=utf-8', 'bundle')
  const css = new Asset(cssFile, 'text/css; charset=utf-8', 'css')
  const init = ownAsset(INIT_JS, 'text/javascript; charset=utf-8', 'init')
  const pageCss = ownAsset(PAGE_CSS, 'text/css; charset=utf-8', 'page-css')
  const page = swaggerPage('highperf')
  const docs = new Elysia({ name: 'highperf/openapi' })
  // Made again only when routes were added since (as the plugin did); shared by concurrent first requests.
  let document: Promise<object> | undefined
  let routesSeen = 0
  return docs
    .get(SPEC_PATH, () => {
      if (document === undefined || routesSeen !== docs.routes.length) {
        routesSeen = docs.routes.length
        document = makeDocument(docs)
        // A failed generation is not cached: the next request tries again.
        document.catch(() => { document = undefined })
      }
      return document
    }, { detail: { hide: true } })
    .get(SWAGGER_PATH, () => new Response(page, { headers: PAGE_HEADERS }), { detail: { hide: true } })
    .get(`${ASSETS_PATH}/swagger-ui-bundle.js`, ({ request }) => bundle.respond(request), { detail: { hide: true } })
    .get(`${ASSETS_PATH}/swagger-ui.css`, ({ request }) => css.respond(request), { detail: { hide: true } })
    .get(`${ASSETS_PATH}/init.js`, ({ request }) => init(request), { detail: { hide: true } })
    .get(`${ASSETS_PATH}/page.css`, ({ request }) => pageCss(request), { detail: { hide: true } })
}
