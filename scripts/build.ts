/**
 * `bun run build`: compiles highperf into one self-contained executable, `dist/highperf`.
 *
 * Runs `bun build --compile --minify --sourcemap --bytecode --format=esm
 * --no-compile-autoload-dotenv --no-compile-autoload-bunfig ./src/main.ts <every worker entry>
 * --outfile …`. Worker entry files must be listed as extra entrypoints: `new Worker(new
 * URL('./worker.ts', import.meta.url))` is resolved at run time, so a worker the bundler was not
 * told about builds fine and then fails with ModuleNotFound in production. Files imported
 * `with { type: 'file' }` (the Swagger UI assets) are embedded by the bundler on its own.
 *
 * Why these flags (docs/operations.md#startup-time-and-memory):
 * - `--bytecode --format=esm`: the JavaScript is compiled to bytecode at build time, so the binary
 *   does not parse ~0.8 MB of source at every start: spawn → first 200 went from ~220 ms to ~100 ms
 *   on this machine. It must be ESM: with `--bytecode` alone Bun emits CommonJS, which cannot have
 *   top-level `await` (main.ts, worker.ts) and bakes the build machine's path into
 *   `import.meta.url` (the worker lookup needs `/$bunfs/...`). With ESM, `import.meta.url` stays
 *   `file:///$bunfs/root/…` (test/binary.test.ts runs tasks on the embedded worker).
 * - `--no-compile-autoload-dotenv`, `--no-compile-autoload-bunfig`: a production binary must not
 *   silently change its configuration because a `.env` or `bunfig.toml` happens to sit in its
 *   working directory. Settings come from the environment and flags only (src/config.ts).
 *
 * @example
 * ```sh
 * bun run build                                 # -> dist/highperf
 * bun run scripts/build.ts --outfile /tmp/hp    # elsewhere (test/binary.test.ts does this)
 * ```
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

const ROOT = resolve(import.meta.dir, '..')

/** Every file a `new Worker(...)` starts. Add a line here when you add a worker entry. */
export const WORKER_ENTRIES: readonly string[] = ['src/pool/worker.ts']

/** The CLI arguments of the compile, e.g. for printing or for a test. */
export function buildCommand(outfile: string): string[] {
  return [
    process.execPath, 'build', '--compile', '--minify', '--sourcemap', '--bytecode', '--format=esm',
    '--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig',
    './src/main.ts', ...WORKER_ENTRIES.map((e) => `./${e}`),
    '--outfile', outfile,
  ]
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Bun.argv.slice(2), options: { outfile: { type: 'string' } } })
  const outfile = resolve(values.outfile ?? join(ROOT, 'dist', 'highperf'))
  const missing = WORKER_ENTRIES.filter((e) => !existsSync(join(ROOT, e)))
  if (missing.length > 0) {
    process.stderr.write(`build: worker entry ${missing.join(', ')} does not exist; fix WORKER_ENTRIES in scripts/build.ts\n`)
    process.exit(1)
  }
  const cmd = buildCommand(outfile)
  process.stdout.write(`$ ${cmd.slice(1).join(' ').replace(process.execPath, 'bun')}\n`)
  const started = performance.now()
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdout: 'inherit', stderr: 'inherit' })
  const code = await proc.exited
  if (code !== 0) {
    process.stderr.write(`build: bun build exited ${code}\n`)
    process.exit(code ?? 1)
  }
  const size = Bun.file(outfile).size
  process.stdout.write(`build: ${outfile} (${(size / 1e6).toFixed(1)} MB) in ${Math.round(performance.now() - started)} ms; dir ${dirname(outfile)}\n`)
}
