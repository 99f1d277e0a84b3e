/**
 * Prints the README's configuration table from the one source of truth, `SPECS` in src/config.ts.
 * `test/readme.test.ts` fails when the README's table and this output drift apart.
 *
 * @example
 * ```sh
 * bun run scripts/config-table.ts
 * ```
 */
import { SPECS } from '../src/config.ts'

/** The markdown table of every setting: variable, flag, default, meaning. */
export function configTable(): string {
  const rows = ['| variable | flag | default | meaning |', '| --- | --- | --- | --- |']
  for (const s of SPECS) {
    const flag = `--${s.env.toLowerCase().replaceAll('_', '-')}`
    const def = s.env === 'WORKERS' ? '`auto`: CPUs available (cgroup quota, affinity) ÷ PROCESSES' : s.def === '' ? '(unset)' : `\`${s.def}\``
    rows.push(`| \`${s.env}\` | \`${flag}\` | ${def} | ${s.help.replaceAll('|', '\\|')} |`)
  }
  return rows.join('\n')
}

if (import.meta.main) console.log(configTable())
