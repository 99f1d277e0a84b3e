/**
 * `DATABASE_URL` at start: the first connection (and the tables it creates) must succeed, or the
 * server does not start. A failure is a {@link StartupError} that `main.ts` prints as one line
 * (`highperf: cannot start: …`), naming the URL without its password and the fix.
 *
 * @example
 * ```ts
 * const pg = await connectAtStart(config.databaseUrl, () => openPostgresStores(config.databaseUrl))
 * ```
 */
import { StartupError } from './error.ts'

/** `url` with its password replaced by `***`. */
function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')
}

/**
 * Awaits `connect` and turns its failure into a {@link StartupError} about `url`.
 *
 * `wait`: the START_WAIT that `connect` retried for, and which failures mean the database was out of
 * reach (src/store/postgres `transientAtOpen`): such a failure is said to have been waited for that
 * long, so the operator knows which setting to raise.
 *
 * @example await connectAtStart('postgres://app@db/app', () => openPostgresStores('postgres://app@db/app'), { ms: 10_000, outOfReach: transientAtOpen })
 */
export async function connectAtStart<T>(url: string, connect: () => Promise<T>, wait?: { ms: number; outOfReach: (err: unknown) => boolean }): Promise<T> {
  try {
    return await connect()
  } catch (err) {
    const shown = redact(url)
    const reason = err instanceof Error ? err.message : String(err)
    const state = (err as { errno?: unknown } | null)?.errno
    const detail = typeof state === 'string' && state !== '' ? `${reason}, SQLSTATE ${state}` : reason
    const waited = wait !== undefined && wait.outOfReach(err) ? ` after START_WAIT (${wait.ms / 1000} s)` : ''
    throw new StartupError('database', shown, `DATABASE_URL ${shown} cannot be used (${detail})${waited}`,
      'start PostgreSQL or fix DATABASE_URL (--database-url); unset it to keep users and messages in bun:sqlite files in DATA_DIR', { cause: err })
  }
}
