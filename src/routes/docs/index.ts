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
 * The document covers every route of the app whatever the order of `.use()`: the plugin reads
 * the route table of the whole app when `/swagger/json` is first requested (and again when the
 * table has grown), so `createApp` may mount it anywhere. Schemas named with `named()`
 * (src/routes/schemas.ts) appear once in `components.schemas` and as `$ref`s (./components.ts).
 *
 * @example
 * ```ts
 * new Elysia().use(openapiDocs()).use(healthRoutes(lifecycle))
 * // GET /swagger       -> Swagger UI (HTML)
 * // GET /swagger/json  -> {"openapi":"3.1.2","info":{"title":"highperf",...},"paths":{...}}
 * ```
 */
import { Elysia } from 'elysia'
// Before '@elysiajs/openapi': snapshots Elysia's format checks so they can be put back (see formats.ts).
import { restoreElysiaFormats } from './formats.ts'
import { openapi } from '@elysiajs/openapi'
import bundleFile from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' }
import cssFile from 'swagger-ui-dist/swagger-ui.css' with { type: 'file' }
import swaggerPkg from 'swagger-ui-dist/package.json' with { type: 'json' }
import { VERSION } from '../../version.ts'
import { componentsOnce } from './components.ts'

// Undo @elysiajs/openapi's global swap of TypeBox format checks for per-call Zod ones.
restoreElysiaFormats()

/** Where the Swagger UI page is served. */
export const SWAGGER_PATH = '/swagger'
/** Where the OpenAPI document is served. */
export const SPEC_PATH = '/swagger/json'
/** Prefix of the UI's own script and stylesheet. */
export const ASSETS_PATH = '/swagger/assets'

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
  return new Elysia({ name: 'highperf/openapi' })
    // Before .use(openapi(...)): a hook applies to the routes added after it, the document's included.
    .onAfterHandle(({ path, response }) => (path === SPEC_PATH && response !== null && typeof response === 'object' ? componentsOnce(response) : undefined))
    .use(
      openapi({
        provider: 'swagger-ui',
        path: SWAGGER_PATH,
        specPath: SPEC_PATH,
        documentation: {
          info: {
            title: 'highperf',
            version: VERSION,
            description:
              'A Bun-native, single-binary, high-performance API server. Every non-2xx JSON body is ' +
              '{"error":{"code","message","requestId","details"?}}.',
          },
        },
        swagger: {
          cdn: `${ASSETS_PATH}/swagger-ui-bundle.js`,
          theme: `${ASSETS_PATH}/swagger-ui.css`,
          // 'none' keeps Swagger UI from sending the document to validator.swagger.io.
          validatorUrl: 'none',
          tryItOutEnabled: false,
          // The plugin points the UI at a relative 'swagger/json', which from /swagger/ (trailing
          // slash, which Elysia also serves) resolves to /swagger/swagger/json. Its typings hide
          // `url`, but the options are spread after the default, so an absolute one wins.
          ...({ url: SPEC_PATH } as object),
        },
      }),
    )
    .get(`${ASSETS_PATH}/swagger-ui-bundle.js`, ({ request }) => bundle.respond(request), { detail: { hide: true } })
    .get(`${ASSETS_PATH}/swagger-ui.css`, ({ request }) => css.respond(request), { detail: { hide: true } })
}
