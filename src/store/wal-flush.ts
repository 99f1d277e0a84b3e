/**
 * Write-behind for a WAL: flushes the `-wal` file's dirty pages to disk from Bun's thread pool
 * every few commits, so the `fsync` SQLite's automatic checkpoint makes on the event loop finds
 * them already written.
 *
 * Why: with `synchronous=NORMAL` a commit only writes the WAL into the page cache; the disk work
 * is paid at the automatic checkpoint (every ~1000 pages, `wal_autocheckpoint`), whose first step
 * is an `fsync` of the whole WAL, run by the committing statement on the calling thread: the event
 * loop. On this machine that fsync took 8–15 ms for the ~4 MB a checkpoint folds back (`strace -f
 * -T` of the server under `POST /users` load, 2026-12-03; the disk writes ~300–600 MB/s), once per
 * ~300 inserts (an insert writes 3 pages: the row, the email index and `sqlite_sequence`): ~45 µs
 * of a stalled event loop per insert, on top of ~70 µs of CPU. That was the gap between highperf
 * (59.7 % of raw `Bun.serve`, at less CPU per request than raw) and its floor (90.3 %) in
 * bench/peers' `POST /users` row. Flushed behind, the checkpoint's fsync has little left to write:
 * `BASE=<the commit before> ENDPOINTS=post STACKS=full RAW=1 BENCH_ROUNDS=10 bun bench/http/ab.ts`
 * (2026-12-03 16:33Z, load average ~8) measured the event loop off the CPU 50.5 → 9.8 µs per
 * `POST /users`, CPU 99.9 → 96.0 µs, req/s ×1.41, and the req/s implied for a CPU of its own from
 * 56 % to 73 % of raw `Bun.serve` doing the same insert. In a loop of inserts through the store
 * alone (yielding to the event loop every 16): blocked 22 → 8 µs per insert.
 *
 * It changes nothing about durability: SQLite still makes every fsync it made before, in the same
 * order; the extra `fdatasync` only starts some of that writing earlier, off the event loop.
 *
 * @example
 * ```ts
 * const flusher = new WalFlusher('./data/users.sqlite-wal')
 * insert.all(...)        // a commit (of one write or of a group commit's batch)
 * flusher.committed()    // every WAL_FLUSH_EVERY commits: one fdatasync in the thread pool
 * flusher.close()
 * ```
 */
import { closeSync, fdatasync, openSync } from 'node:fs'

/**
 * How a flush is made: node's `fdatasync(fd, callback)` (the thread pool), or a stand-in in tests.
 *
 * @example const sync: SyncFile = (fd, done) => fdatasync(fd, done)
 */
export type SyncFile = (fd: number, done: (err: unknown) => void) => void

/**
 * Commits between two background flushes. An insert of a user committed alone writes ~12 KB of
 * WAL, so 32 of them are ~400 KB: one flush of a few ms in the thread pool, ~10 per automatic
 * checkpoint. (8, 16 and 64 measured the same within the noise: the stall left is the
 * checkpoint's own fsyncs.)
 *
 * The users store group-commits (./group-commit.ts): under load a commit carries a batch of
 * inserts, more WAL than one (less than as many single commits: they share the table's last page
 * and `sqlite_sequence`), so 32 commits are then a few MB, one or two flushes per checkpoint.
 * Counting the batch's writes instead (a flush per 32 inserts) measured worse: req/s x0.90-0.96
 * at 5-13 % more CPU per request, each fdatasync costing CPU on the server's core (`BASE=<tree
 * counting commits> ENDPOINTS=post STACKS=full,off BENCH_ROUNDS=6 bun bench/http/ab.ts`, two
 * runs, 2026-12-03 21:07Z). Against no flusher at all, group-committed: req/s x1.04-1.09, CPU
 * x0.96, off-CPU time per request 4.1-5.4 -> 2.6-4.8 µs (the same, 10 rounds, 21:10Z).
 *
 * @example new WalFlusher(walPath, WAL_FLUSH_EVERY)
 */
export const WAL_FLUSH_EVERY = 32

/**
 * Flushes one WAL file behind its writer (see the module comment).
 *
 * @example
 * ```ts
 * const flusher = new WalFlusher(`${db.filename}-wal`)
 * runReturning(insert, name, email, now)
 * flusher.committed()
 * ```
 */
export class WalFlusher {
  readonly #path: string
  readonly #every: number
  readonly #sync: SyncFile
  #fd = -1
  #commits = 0
  #inFlight = false
  #closed = false

  /**
   * @param walPath the database's `-wal` file (opened at the first flush: it may not exist yet)
   * @param every commits between two flushes
   * @param sync how a flush is made (tests count the calls)
   * @example new WalFlusher(`${dbPath}-wal`)
   */
  constructor(walPath: string, every = WAL_FLUSH_EVERY, sync: SyncFile = fdatasync) {
    this.#path = walPath
    this.#every = every
    this.#sync = sync
  }

  /**
   * Counts one commit; every `every` commits starts an `fdatasync` of the WAL in the thread pool
   * unless the previous one is still running. Never throws and never waits.
   *
   * @example store.insert(...); flusher.committed()
   */
  committed(): void {
    if (++this.#commits < this.#every || this.#inFlight || this.#closed) return
    this.#commits = 0
    if (this.#fd === -1) {
      try {
        this.#fd = openSync(this.#path, 'r')
      } catch {
        return // no WAL yet (or not readable): SQLite's own fsyncs do all the work, as before
      }
    }
    this.#inFlight = true
    // A failed flush changes nothing: SQLite's own fsync at the checkpoint reports a real failure.
    this.#sync(this.#fd, () => {
      this.#inFlight = false
      if (this.#closed) this.#release()
    })
  }

  /**
   * Stops flushing and closes the file (after a flush still running, so its descriptor number is
   * never reused under it).
   *
   * @example flusher.close()
   */
  close(): void {
    this.#closed = true
    if (!this.#inFlight) this.#release()
  }

  #release(): void {
    if (this.#fd !== -1) closeSync(this.#fd)
    this.#fd = -1
  }
}
