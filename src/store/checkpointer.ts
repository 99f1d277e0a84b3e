/**
 * WAL checkpoints of a shared database on a thread of its own, so no request waits for one.
 *
 * Why: SQLite's automatic checkpoint runs inside the commit that pushes the WAL past
 * `wal_autocheckpoint` pages, on the connection that committed: for a request, on the event loop.
 * With two processes writing one file, those checkpoints (and what they make the other process's
 * readers and writers wait for) stalled `/healthz` up to ~0.6 s under a write flood
 * (`bun bench/storage/shared-writes.ts`, docs/users-files.md#shared-by-several-processes).
 *
 * So a shared store turns the automatic checkpoint off on its request connection and this worker,
 * with a connection of its own, every {@link CHECKPOINT_EVERY_MS}:
 * - runs `PRAGMA wal_checkpoint(PASSIVE)`: copies what it can back into the database without
 *   taking the write lock; writers go on meanwhile;
 * - once the WAL holds more than {@link RESTART_FRAMES} frames, runs a `RESTART` checkpoint. Why:
 *   SQLite starts the WAL over only when a write begins on a completely checkpointed log, which
 *   passive checkpoints racing busy writers in two processes never leave (measured: the WAL grew
 *   to 156 MiB in 10 s). A `RESTART` takes the write lock for the little the passive ones left,
 *   waits for readers to leave the log, and the next write starts it over (cut back to
 *   `journal_size_limit`). Request writers wait for it at most their 100 ms busy timeout.
 *
 * If the worker cannot start or dies, the request connection gets its automatic checkpoint back
 * (`onFailure`), so the WAL never grows without bound. Exclusive databases keep the automatic
 * checkpoint: no other connection can open them.
 *
 * The worker comes from a source string (a Blob URL), like src/ops/off-thread.ts, so it exists in
 * the compiled binary without a build entry point.
 *
 * @example
 * ```ts
 * const stop = checkpointOffThread('./data/users.sqlite', () => db.run('PRAGMA wal_autocheckpoint = 1000'))
 * // ... serve ...
 * stop()
 * ```
 */

/** Milliseconds between two checkpoints of a shared database. */
export const CHECKPOINT_EVERY_MS = 100
/** WAL frames (pages, ~8 MB) past which the worker makes the log start over. */
export const RESTART_FRAMES = 2000

// Plain JavaScript, evaluated as it is by the worker. A failed checkpoint (SQLITE_BUSY past the
// worker's busy timeout while writers hold the lock, a disk error) is tried again at the next
// tick; the requests' own errors say what the disk does.
const WORKER_SOURCE = `import { Database } from 'bun:sqlite'
let db
let timer
self.onmessage = (event) => {
  const m = event.data
  if (m.op === 'start') {
    try {
      db = new Database(m.path)
      db.run('PRAGMA busy_timeout = ' + m.busyTimeoutMs)
    } catch (err) {
      postMessage({ error: String((err && err.message) || err) })
      return
    }
    timer = setInterval(() => {
      try {
        const r = db.query('PRAGMA wal_checkpoint(PASSIVE)').get()
        if (r && r.log > m.restartFrames) db.query('PRAGMA wal_checkpoint(RESTART)').get()
      } catch {}
    }, m.everyMs)
  } else {
    clearInterval(timer)
    try { db && db.close() } catch {}
    self.close()
  }
}
`

let workerUrl: string | undefined

/**
 * Starts checkpointing the WAL of the database at `path` on a worker thread (see the module
 * comment); returns the function that stops it. `onFailure` runs once if the worker cannot open
 * the database or dies. The worker never keeps the process alive.
 *
 * @example const stop = checkpointOffThread(path, () => db.run('PRAGMA wal_autocheckpoint = 1000')); stop()
 */
export function checkpointOffThread(path: string, onFailure: () => void, everyMs = CHECKPOINT_EVERY_MS): () => void {
  workerUrl ??= URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'application/javascript' }))
  const worker = new Worker(workerUrl)
  worker.unref()
  let stopped = false
  const fail = () => {
    if (stopped) return
    stopped = true
    worker.terminate()
    onFailure()
  }
  worker.onmessage = fail // the worker only ever writes to say it could not start
  worker.onerror = fail
  // A busy timeout for the RESTART: it waits for writers to finish their statement (µs), not
  // longer, and tries again at the next tick.
  worker.postMessage({ op: 'start', path, everyMs, busyTimeoutMs: 50, restartFrames: RESTART_FRAMES })
  return () => {
    if (stopped) return
    stopped = true
    worker.postMessage({ op: 'stop' })
  }
}
