/**
 * `bun run build`: compiles highperf into one self-contained executable, `dist/highperf`.
 *
 * Two passes of `bun build --compile --splitting --minify --sourcemap --bytecode --format=esm
 * --compile-jit-policy=20 --no-compile-autoload-dotenv --no-compile-autoload-bunfig ./src/main.ts
 * <every worker entry> --outfile …`: the first binary is started once, the way it starts in
 * production (an empty directory, default settings, `/healthz` and `/readyz` probed, SIGTERM), with
 * `BUN_BYTECODE_ORDER_OUT` recording which functions the start used; the second pass
 * (`--bytecode-order=<that file>`) lays that bytecode out together at the front of the embedded
 * bundle. Worker entry files must be listed as extra entrypoints: `new Worker(new
 * URL('./worker.ts', import.meta.url))` is resolved at run time, so a worker the bundler was not
 * told about builds fine and then fails with ModuleNotFound in production. Files imported
 * `with { type: 'file' }` (the Swagger UI assets, the queue dashboard's UI listed in
 * src/jobs/bullmq/ui-files.ts) are embedded by the bundler on its own; the build first checks that
 * list against the installed `@bull-board/ui` (scripts/bull-board-ui.ts), whose file names change
 * with every release.
 *
 * Why these flags (docs/operations.md#startup-time-and-memory):
 * - `--bytecode --format=esm`: the JavaScript is compiled to bytecode at build time, so the binary
 *   does not parse ~0.8 MB of source at every start: spawn → first 200 went from ~220 ms to ~100 ms
 *   on this machine. It must be ESM: with `--bytecode` alone Bun emits CommonJS, which cannot have
 *   top-level `await` (main.ts, worker.ts) and bakes the build machine's path into
 *   `import.meta.url` (the worker lookup needs `/$bunfs/...`). With ESM, `import.meta.url` stays
 *   `file:///$bunfs/root/…` (test/binary.test.ts runs tasks on the embedded worker).
 * - `--splitting`: every dynamically imported part (the cluster primary, the subcommands, BullMQ
 *   and its dashboard, the Redis rate limiter, PostgreSQL, OpenTelemetry's SDK, the OpenAPI
 *   generator) is a chunk of its own in the binary, loaded when imported. Without it the whole
 *   graph is one module: the main thread loads the bytecode of code no start runs, and keeps it. Idle RSS with WORKERS=2: 70.1 → 68.0 MB (anonymous 23.6 → 22.0 MB, the embedded
 *   bundle's pages 3.9 → 3.3 MB; medians of 5 interleaved starts, bench/startup's method).
 * - `--bytecode-order` (the second pass): without it a start touches ~6 MB of the embedded
 *   bytecode, which is laid out in source order, so the few functions a start runs are spread over
 *   every page; with it ~3 MB less of the executable stays resident. The profile is recorded at
 *   every build, so it never goes stale and no profile file is kept in the repository.
 * - `--compile-jit-policy=20`: the main thread starts with JavaScriptCore's tier-up thresholds ×20,
 *   so start-up code that runs once (module bodies, building the app) is not JIT-compiled;
 *   `src/main.ts` puts the normal policy back once the server listens (the workers do the same
 *   for themselves, src/pool/worker.ts). Saves ~1.5 MB of idle memory and a little start time.
 * - `--no-compile-autoload-dotenv`, `--no-compile-autoload-bunfig`: a production binary must not
 *   silently change its configuration because a `.env` or `bunfig.toml` happens to sit in its
 *   working directory. Settings come from the environment and flags only (src/config.ts).
 *
 * @example
 * ```sh
 * bun run build                                 # -> dist/highperf
 * bun run scripts/build.ts --outfile /tmp/hp    # elsewhere (test/binary.test.ts does this)
 * bun run scripts/build.ts --no-bytecode-order  # one pass, e.g. where the binary cannot run
 * ```
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { UI_FILES_MODULE, uiFilesSource } from './bull-board-ui.ts'

const ROOT = resolve(import.meta.dir, '..')

/** Every file a `new Worker(...)` starts. Add a line here when you add a worker entry. */
export const WORKER_ENTRIES: readonly string[] = ['src/pool/worker.ts']

/**
 * Tier-up threshold scale the main thread starts with (keep it equal to STARTUP_JIT_POLICY in
 * src/startup-jit.ts, which covers the rest of start-up; importing that here would run its side
 * effect in the build); src/main.ts sets 1 once listening.
 */
export const STARTUP_JIT_POLICY = 20

/**
 * The flags of every compile but the entry points, the output and the bytecode order (see the
 * module comment); bench/startup compiles its floor with them too.
 *
 * @example Bun.spawnSync([process.execPath, 'build', ...COMPILE_FLAGS, './app.ts', '--outfile', '/tmp/app'])
 */
export const COMPILE_FLAGS: readonly string[] = [
  '--compile', '--splitting', '--minify', '--sourcemap', '--bytecode', '--format=esm',
  `--compile-jit-policy=${STARTUP_JIT_POLICY}`,
  '--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig',
]

/** How long the profiling start may take before the build gives up. */
const PROFILE_TIMEOUT_MS = 30_000

/**
 * The CLI arguments of one compile, e.g. for printing or for a test. `bytecodeOrder`: the profile
 * of the second pass.
 *
 * @example
 * ```ts
 * Bun.spawnSync(buildCommand('/tmp/hp', '/tmp/order'), { cwd: ROOT })
 * ```
 */
export function buildCommand(outfile: string, bytecodeOrder?: string): string[] {
  return [
    process.execPath, 'build', ...COMPILE_FLAGS,
    ...(bytecodeOrder === undefined ? [] : [`--bytecode-order=${bytecodeOrder}`]),
    './src/main.ts', ...WORKER_ENTRIES.map((e) => `./${e}`),
    '--outfile', outfile,
  ]
}

/**
 * Starts `binary` in an empty directory with default settings and `BUN_BYTECODE_ORDER_OUT=out`,
 * waits until it listens, asks `/healthz` and then `/readyz` until it answers 200 (the workers are
 * up), and stops it with SIGTERM; the binary writes the profile as it exits. Throws if any step
 * fails or takes longer than 30 s.
 *
 * @example
 * ```ts
 * await recordStartProfile('dist/highperf', '/tmp/highperf.order')
 * ```
 */
export async function recordStartProfile(binary: string, out: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'highperf-build-profile-'))
  const proc = Bun.spawn([binary], {
    cwd: dir,
    // PORT=0: the kernel picks a free port, read back from the `highperf listening` line.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ACCESS_LOG: 'off', BUN_BYTECODE_ORDER_OUT: out },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const timer = setTimeout(() => proc.kill('SIGKILL'), PROFILE_TIMEOUT_MS)
  try {
    const url = await listeningUrl(proc.stdout)
    for (const path of ['healthz', 'readyz']) {
      for (;;) {
        const res = await fetch(`${url}${path}`)
        await res.arrayBuffer()
        if (res.status === 200) break
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`exited while waiting for /${path}`)
        await Bun.sleep(5)
      }
    }
    proc.kill('SIGTERM')
    const code = await proc.exited
    if (code !== 0) throw new Error(`exited ${code ?? proc.signalCode} after SIGTERM`)
    if (!existsSync(out) || statSync(out).size === 0) throw new Error(`wrote no profile to ${out}`)
  } catch (err) {
    proc.kill('SIGKILL')
    const stderr = await new Response(proc.stderr).text()
    throw new Error(`the profiling start of ${binary} failed: ${(err as Error).message}${stderr ? `\n${stderr.trim()}` : ''}`)
  } finally {
    clearTimeout(timer)
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Reads the server's JSON log lines until `highperf listening`; returns its `url`. */
async function listeningUrl(stdout: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder()
  let text = ''
  for await (const chunk of stdout) {
    text += decoder.decode(chunk, { stream: true })
    const lines = text.split('\n')
    text = lines.pop() ?? '' // a line not yet complete waits for the next chunk
    for (const line of lines) {
      if (!line.includes('"highperf listening"')) continue
      const { url } = JSON.parse(line) as { url?: unknown }
      if (typeof url === 'string') {
        // Keep draining stdout so the server never blocks on a full pipe.
        void (async () => { for await (const _ of stdout) { /* discard */ } })().catch(() => {})
        return url
      }
    }
  }
  throw new Error('stdout closed before the server listened')
}

async function compile(cmd: string[]): Promise<void> {
  process.stdout.write(`$ ${cmd.slice(1).join(' ').replace(process.execPath, 'bun')}\n`)
  const code = await Bun.spawn(cmd, { cwd: ROOT, stdout: 'inherit', stderr: 'inherit' }).exited
  if (code !== 0) {
    process.stderr.write(`build: bun build exited ${code}\n`)
    process.exit(code ?? 1)
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: { outfile: { type: 'string' }, 'no-bytecode-order': { type: 'boolean' } },
  })
  const outfile = resolve(values.outfile ?? join(ROOT, 'dist', 'highperf'))
  const missing = WORKER_ENTRIES.filter((e) => !existsSync(join(ROOT, e)))
  if (missing.length > 0) {
    process.stderr.write(`build: worker entry ${missing.join(', ')} does not exist; fix WORKER_ENTRIES in scripts/build.ts\n`)
    process.exit(1)
  }
  if (uiFilesSource(ROOT) !== (existsSync(join(ROOT, UI_FILES_MODULE)) ? await Bun.file(join(ROOT, UI_FILES_MODULE)).text() : '')) {
    process.stderr.write(`build: ${UI_FILES_MODULE} does not list the installed @bull-board/ui's files; run bun run scripts/bull-board-ui.ts and commit it\n`)
    process.exit(1)
  }
  const started = performance.now()
  await compile(buildCommand(outfile))
  if (!values['no-bytecode-order']) {
    const work = mkdtempSync(join(tmpdir(), 'highperf-build-'))
    try {
      const order = join(work, 'highperf.order')
      process.stdout.write(`build: recording which bytecode a start uses (BUN_BYTECODE_ORDER_OUT=${order})\n`)
      try {
        await recordStartProfile(outfile, order)
      } catch (err) {
        process.stderr.write(`build: ${(err as Error).message}\nbuild: fix the start, or build with --no-bytecode-order\n`)
        process.exit(1)
      }
      await compile(buildCommand(outfile, order))
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  }
  const size = Bun.file(outfile).size
  process.stdout.write(`build: ${outfile} (${(size / 1e6).toFixed(1)} MB) in ${Math.round(performance.now() - started)} ms; dir ${dirname(outfile)}\n`)
}
