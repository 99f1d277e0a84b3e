/**
 * Arguments of a subcommand: its own flags taken out, the rest left for `loadConfig`, so a
 * subcommand accepts every setting's flag too (`highperf healthcheck --port 8080`,
 * `highperf backup --to /backups --data-dir /srv/data`) and reads the environment the server reads.
 *
 * @example
 * ```ts
 * const { own, rest } = splitArgs(['--to', '/b', '--data-dir', '/d'], { to: 'string' })
 * own.to   // '/b'
 * rest     // ['--data-dir', '/d']
 * ```
 */

/** A bad command line of a subcommand: printed as one line; the exit code is the subcommand's. */
export class UsageError extends Error {
  readonly code = 'usage'
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** The subcommand's own flags: name (without `--`) to kind. */
export type OwnFlags = Record<string, 'string' | 'boolean'>

/** Splits `argv` into the subcommand's own flags and the rest. Throws {@link UsageError}. */
export function splitArgs(argv: readonly string[], flags: OwnFlags): { own: Record<string, string | boolean>; rest: string[] } {
  const own: Record<string, string | boolean> = {}
  const rest: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const m = arg.match(/^--([a-z][a-z0-9-]*)(?:=(.*))?$/s)
    const kind = m ? flags[m[1] as string] : undefined
    if (!m || kind === undefined || !Object.hasOwn(flags, m[1] as string)) {
      rest.push(arg)
      // A setting's value travels with its flag, even one that looks like a flag of ours.
      if (m && m[2] === undefined && i + 1 < argv.length && !(argv[i + 1] as string).startsWith('--')) rest.push(argv[++i] as string)
      continue
    }
    const name = m[1] as string
    if (kind === 'boolean') {
      if (m[2] !== undefined) throw new UsageError(`--${name} takes no value`)
      own[name] = true
      continue
    }
    const value = m[2] ?? argv[++i]
    if (value === undefined || (m[2] === undefined && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`)
    own[name] = value
  }
  return { own, rest }
}
