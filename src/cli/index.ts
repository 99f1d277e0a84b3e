/**
 * The subcommands of the highperf binary, by name. Each lives in a module of its own, loaded when
 * asked for (main.ts explains why the server's modules are loaded anyway).
 *
 * @example
 * ```ts
 * const run = subcommand(process.argv[2])
 * if (run) process.exit(await run(process.argv.slice(3), process.env))
 * ```
 */

/** A subcommand: its arguments (after its name) and the environment in, the exit code out. */
export type Subcommand = (argv: readonly string[], env: Record<string, string | undefined>) => Promise<number>

const SUBCOMMANDS: Record<string, () => Promise<Subcommand>> = {
  healthcheck: async () => (await import('./healthcheck.ts')).healthcheck,
  backup: async () => (await import('./backup.ts')).backup,
}

/** The names, for help texts. */
export const SUBCOMMAND_NAMES: readonly string[] = Object.keys(SUBCOMMANDS)

/**
 * The subcommand `name` names, or undefined when it is not one (a flag, or nothing: the server).
 *
 * @example await subcommand('healthcheck')?.(['--timeout', '1s'], process.env)
 */
export async function subcommand(name: string | undefined): Promise<Subcommand | undefined> {
  if (name === undefined || !Object.hasOwn(SUBCOMMANDS, name)) return undefined
  return await (SUBCOMMANDS[name] as () => Promise<Subcommand>)()
}
