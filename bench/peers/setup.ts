/**
 * What bench/peers (and its test) need before a peer can start: the Go peer built offline from
 * Debian's packaged modules, whether Node can load the Fastify peer's native module, the two files
 * every server serves, and the wrk script creating a new user per request. Installs nothing.
 *
 * @example
 * ```ts
 * const bin = buildGoStack('/tmp/go-stack', '/tmp/gocache')
 * if (typeof bin !== 'string') console.log(bin.skip)
 * ```
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dir, '../..')

/** Why a peer cannot run here, said as the fix. */
export interface Skip { skip: string }

/** The Debian packages the Go peer's imports come from (GOPATH mode, no network). */
export const GO_PACKAGES = 'golang-go golang-github-julienschmidt-httprouter-dev golang-github-prometheus-client-golang-dev golang-github-mattn-go-sqlite3-dev golang-golang-x-time-dev'

/**
 * Builds bench/peers/go-stack into `out` with `go build` in GOPATH mode against /usr/share/gocode
 * (Debian's Go modules): the path of the binary, or why not.
 *
 * @example buildGoStack('/tmp/x/go-stack', '/tmp/x/gocache') // '/tmp/x/go-stack'
 */
export function buildGoStack(out: string, cache: string): string | Skip {
  if (Bun.which('go') === null) return { skip: `\`go\` is not installed (apt-get install ${GO_PACKAGES})` }
  const b = Bun.spawnSync(['go', 'build', '-o', out, '.'], {
    cwd: join(import.meta.dir, 'go-stack'),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: cache, GOFLAGS: '' },
    stderr: 'pipe',
  })
  if (b.exitCode !== 0) return { skip: `go build failed (apt-get install ${GO_PACKAGES}): ${b.stderr.toString().trim().split('\n').slice(0, 3).join(' / ')}` }
  return out
}

/**
 * Whether `node` can run the Fastify peer: Node present and better-sqlite3's native module built
 * for it (bench/README.md says how to build it once).
 *
 * @example fastifyReady() // true, or { skip: '…' }
 */
export function fastifyReady(): true | Skip {
  if (Bun.which('node') === null) return { skip: '`node` is not installed' }
  const r = Bun.spawnSync(['node', '-e', "const D = require('better-sqlite3'); new D(':memory:').close(); require('fastify')"], { cwd: ROOT, stderr: 'pipe' })
  if (r.exitCode !== 0) {
    return { skip: `node cannot load fastify + better-sqlite3 (bench/README.md: build better-sqlite3 once): ${r.stderr.toString().trim().split('\n').find((l) => /Error/.test(l)) ?? `exit ${r.exitCode}`}` }
  }
  return true
}

/**
 * Writes the served files into `dir` (4k.bin, 1m.bin: fixed pseudo-random bytes) and returns `dir`.
 *
 * @example prepareFiles('/tmp/files') // '/tmp/files' holding 4k.bin and 1m.bin
 */
export function prepareFiles(dir: string): string {
  mkdirSync(dir, { recursive: true })
  for (const [name, size] of [['4k.bin', 4096], ['1m.bin', 1 << 20]] as const) {
    const bytes = new Uint8Array(size)
    let x = 0x9e3779b9
    for (let i = 0; i < size; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5
      bytes[i] = x & 0xff
    }
    writeFileSync(join(dir, name), bytes)
  }
  return dir
}

/**
 * A wrk Lua script POSTing `/users` with a new email each request (`tag` keeps runs apart: an
 * email seen before is a 409, which wrk would count as fast non-2xx answers).
 *
 * @example userPostScript('run7')
 */
export function userPostScript(tag: string): string {
  return [
    'local n = 0',
    'request = function()',
    '  n = n + 1',
    `  return wrk.format("POST", "/users", { ["Content-Type"] = "application/json" }, '{"name":"Bench User","email":"u${tag}-' .. n .. '@example.com"}')`,
    'end',
    '',
  ].join('\n')
}
