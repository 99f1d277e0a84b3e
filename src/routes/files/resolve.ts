/**
 * Safe resolution of a request path to a regular file inside `FILES_DIR`.
 *
 * The rule is "nothing outside the root is ever served", enforced twice:
 * 1. Lexically, on the request path decoded exactly once: every segment must be a plain name.
 *    Empty segments (`//`, a leading `/` making an absolute path, a trailing `/`), `.`/`..`,
 *    hidden names (leading `.`, which also covers `.git`, `.env`), backslashes and NUL bytes are
 *    refused. A double-encoded `%252e%252e%252f` decodes once to the literal name `%2e%2e%2f`,
 *    which is just a (missing) file.
 * 2. Physically: the candidate's `realpath` (all symlinks resolved) must still lie under the
 *    root's `realpath` and must not pass through a hidden name. So a symlink inside the root that
 *    points outside is refused, and one that points elsewhere inside the root is followed.
 *
 * Then the target must be a regular file (not a directory, FIFO or device).
 *
 * Limits: the check and the open are two steps, so someone who can write inside `FILES_DIR` could
 * swap a checked directory for a symlink in between; `FILES_DIR` is meant to be writable only
 * by its operator.
 *
 * @example
 * ```ts
 * const root = new FileRoot('./public')
 * await root.resolve('css/site.css') // { path: '/srv/app/public/css/site.css', size: 1234, mtimeMs: … }
 * await root.resolve('..%2fetc/passwd') // null
 * ```
 */
import { realpath, stat } from 'node:fs/promises'
import { resolve as resolvePath, sep } from 'node:path'
import { AppError } from '../../errors.ts'
import { entryOf, FileCache, type CachedFile } from './cache.ts'

/** Longest raw (still percent-encoded) path accepted; longer ones are 404s without touching the disk. */
export const MAX_PATH_LENGTH = 1024

/**
 * Splits a raw, percent-encoded path relative to the root into safe segments, or null when it
 * can never name a servable file. Throws `AppError('bad_request')` on malformed percent-encoding.
 *
 * @example
 * ```ts
 * safeSegments('a/b%20c.txt') // ['a', 'b c.txt']
 * safeSegments('%2e%2e/x')    // null
 * ```
 */
export function safeSegments(raw: string): string[] | null {
  if (raw.length === 0 || raw.length > MAX_PATH_LENGTH) return null
  let decoded: string
  try {
    decoded = decodeURIComponent(raw)
  } catch {
    throw new AppError('bad_request', 'The file path has malformed percent-encoding')
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null
  const segments = decoded.split('/')
  for (const s of segments) {
    if (s.length === 0 || s.charCodeAt(0) === 46 /* '.' */) return null
  }
  return segments
}

/**
 * Resolved files remembered per root (./cache.ts): enough for a site's assets, bounded so that
 * requests for many distinct paths cannot grow memory; an entry is ~0.5 KB.
 */
export const FILE_CACHE_ENTRIES = 1024

/**
 * The served directory; finds its real path lazily, so a missing `FILES_DIR` only means 404s.
 * Files it resolved are remembered ({@link FileRoot.cached}) and checked against the disk on
 * every use.
 */
export class FileRoot {
  readonly #dir: string
  #real: string | undefined
  readonly #cache: FileCache

  /** `dir` may be relative (to the working directory) and need not exist yet. */
  constructor(dir: string, cacheEntries = FILE_CACHE_ENTRIES) {
    this.#dir = resolvePath(dir)
    this.#cache = new FileCache(cacheEntries)
  }

  /**
   * The file `raw` resolved to before, if it is still exactly that file on disk (one `stat`,
   * synchronous); undefined when unknown or changed: then {@link FileRoot.resolve} decides.
   *
   * @example root.cached('css/site.css') ?? await root.resolve('css/site.css')
   */
  cached(raw: string): CachedFile | undefined {
    return this.#cache.get(raw)
  }

  /** The root's real path, or null while it does not exist (cached once found). */
  async real(): Promise<string | null> {
    if (this.#real !== undefined) return this.#real
    try {
      const real = await realpath(this.#dir)
      if (!(await stat(real)).isDirectory()) return null
      this.#real = real
      return real
    } catch {
      return null
    }
  }

  /**
   * The regular file `raw` (percent-encoded, relative to the root) names, or null when there is
   * none that may be served. A file found is remembered for {@link FileRoot.cached}.
   */
  async resolve(raw: string): Promise<CachedFile | null> {
    const segments = safeSegments(raw)
    if (segments === null) return null
    const root = await this.real()
    if (root === null) return null
    try {
      // FILES_DIR=/ has the real path '/', which already ends in the separator.
      const prefix = root.endsWith(sep) ? root : root + sep
      const lexical = prefix + segments.join(sep)
      const real = await realpath(lexical)
      if (!real.startsWith(prefix)) return null
      const inside = real.slice(prefix.length).split(sep)
      for (const s of inside) if (s.charCodeAt(0) === 46) return null
      const st = await stat(real)
      if (!st.isFile()) return null
      const file = entryOf(real, st)
      this.#cache.set(raw, lexical, file)
      return file
    } catch {
      // ENOENT, ENOTDIR, ENAMETOOLONG, ELOOP, EACCES: all "nothing to serve here".
      return null
    }
  }
}
