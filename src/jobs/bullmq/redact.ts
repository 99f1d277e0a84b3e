/**
 * A JOBS_URL fit for logs and messages: its password masked. Its own module (no BullMQ import) so
 * the start-up error of src/deps.ts can use it without loading BullMQ.
 *
 * @example redact('redis://:pw@h:6379') // 'redis://:***@h:6379'
 */
export function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString().replace(/\/$/, '')
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@')
  }
}
