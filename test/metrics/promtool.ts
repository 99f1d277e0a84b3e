/**
 * Test support: runs Prometheus's own checker, `promtool check metrics` (Debian's prometheus
 * package, /usr/bin/promtool), on an exposition text.
 *
 * @example
 * ```ts
 * const { code, output } = await promtool(await metrics.render())
 * expect(output).toBe('') // no errors, no lint warnings
 * ```
 */
export async function promtool(text: string): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(['promtool', 'check', 'metrics'], { stdin: new Blob([text]), stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, output: out + err }
}
