/**
 * The files route's memory of what it resolved: request path -> the file's real path, its stat
 * validators and the response headers built from them, in a bounded LRU. A hit costs one `stat`
 * of the request's own path instead of `realpath` + `stat` on the thread pool, and lets the route
 * answer synchronously, so Bun writes the headers and the body in one corked `sendto` (an answer
 * sent after a thread-pool hop went out in seven). What it buys: `bun bench/http/syscalls.ts`
 * counts 12.4 syscalls per 4 KB answer, down from 26.4 (raw `Bun.serve` + `Bun.file`: 10.2; the two
 * left are the stack's `getpeername` and this stat), and bench/peers' row "GET 4 KB file" shows
 * highperf against raw Bun.serve (bench/README.md, "Peers at parity").
 *
 * Never stale: every hit stats the request's path (following symlinks, as the open will) and is
 * used only when device, inode, size, mtime and ctime all still match what was cached. A rewrite
 * changes mtime/ctime (and usually size), an atomic replace (rename) or a symlink pointed elsewhere
 * changes the inode, a deletion fails the stat: each drops the entry and the full resolution
 * (realpath, the inside-the-root and hidden-name checks) runs again. The bytes are never cached:
 * `Bun.file` opens the path for every answer, so the body is always what is on disk when sent.
 * The one thing a stat cannot see, a same-size rewrite within one timestamp tick of the kernel,
 * leaves the ETag as the uncached route computed it too (conditional.ts's accepted trade).
 *
 * @example
 * ```ts
 * const cache = new FileCache(1024)
 * cache.set('a.txt', '/srv/public/a.txt', entryOf('/srv/public/a.txt', stats))
 * cache.get('a.txt') // the entry while /srv/public/a.txt is unchanged, else undefined
 * ```
 */
import { statSync, type Stats } from 'node:fs'
import { etagOf, httpDate } from './conditional.ts'

/** A resolved file with what its answers need, computed once per version of the file. */
export interface CachedFile {
  /** Absolute real path (symlinks resolved): what `Bun.file` opens. */
  path: string
  size: number
  mtimeMs: number
  etag: string
  /**
   * ETag, Last-Modified and Accept-Ranges, the headers of every 200, 206 and 304. Content-Type is
   * not among them: `new Response(Bun.file(path))` sets it from the extension itself, and a 304
   * carries no representation metadata (RFC 9110 §15.4.5).
   */
  headers: Readonly<Record<string, string>>
  /** The stat identity the entry is valid for. */
  dev: number
  ino: number
  ctimeMs: number
}

/**
 * The entry for the file at real path `path` as `st` (a stat of it) describes it.
 *
 * @example entryOf('/srv/public/a.txt', statSync('/srv/public/a.txt'))
 */
export function entryOf(path: string, st: Stats): CachedFile {
  const etag = etagOf(st.size, st.mtimeMs)
  return {
    path,
    size: st.size,
    mtimeMs: st.mtimeMs,
    etag,
    headers: { etag, 'last-modified': httpDate(st.mtimeMs), 'accept-ranges': 'bytes' },
    dev: st.dev,
    ino: st.ino,
    ctimeMs: st.ctimeMs,
  }
}

const same = (e: CachedFile, st: Stats) =>
  st.ino === e.ino && st.dev === e.dev && st.size === e.size && st.mtimeMs === e.mtimeMs && st.ctimeMs === e.ctimeMs && st.isFile()

/** A bounded LRU of resolved files, keyed by the raw request path, checked against the disk on every hit. */
export class FileCache {
  readonly #max: number
  // A Map iterates in insertion order: re-inserting on a hit keeps the least recently used first.
  readonly #entries = new Map<string, { lexical: string; file: CachedFile }>()

  /** `max`: entries kept; the least recently used one goes when a new one would exceed it. */
  constructor(max: number) {
    this.#max = Math.max(1, max)
  }

  /** Entries held now. */
  get size(): number {
    return this.#entries.size
  }

  /**
   * The entry for `key` if the file at its lexical path is still the one cached; otherwise the
   * entry is dropped and undefined returned (the caller resolves afresh).
   */
  get(key: string): CachedFile | undefined {
    const hit = this.#entries.get(key)
    if (hit === undefined) return undefined
    const st = statSync(hit.lexical, { throwIfNoEntry: false })
    if (st === undefined || !same(hit.file, st)) {
      this.#entries.delete(key)
      return undefined
    }
    this.#entries.delete(key)
    this.#entries.set(key, hit)
    return hit.file
  }

  /**
   * Remembers `file`, reached by the request path `key`, whose un-resolved path on disk is `lexical`
   * (root + the request's segments: what is stat'ed on each hit, so a symlink on the way that
   * changes target is noticed).
   */
  set(key: string, lexical: string, file: CachedFile): void {
    this.#entries.delete(key)
    this.#entries.set(key, { lexical, file })
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
  }
}
