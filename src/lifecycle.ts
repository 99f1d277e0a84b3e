/**
 * Readiness and draining: the one piece of state graceful shutdown flips.
 *
 * `/readyz` reads it; `main.ts` calls {@link Lifecycle.beginDrain} on SIGTERM so load balancers stop
 * sending traffic while in-flight requests finish. Parts that must be healthy for the server to
 * be ready register a check (today the worker pool: at least one worker up).
 *
 * @example
 * ```ts
 * const life = new Lifecycle()
 * life.addCheck('pool', () => pool.alive > 0)
 * life.beginDrain() // /readyz now answers 503
 * ```
 */
export class Lifecycle {
  #draining = false
  readonly #checks = new Map<string, () => boolean>()
  readonly #onDrain: Array<() => void> = []

  /** True once shutdown has begun. */
  get draining(): boolean {
    return this.#draining
  }

  /** Registers a readiness check; a check that returns false or throws makes /readyz 503. */
  addCheck(name: string, check: () => boolean): void {
    this.#checks.set(name, check)
  }

  /** Runs `fn` once when draining begins (e.g. stop taking jobs). */
  onDrain(fn: () => void): void {
    if (this.#draining) fn()
    else this.#onDrain.push(fn)
  }

  /** Starts draining: readiness turns false and every `onDrain` callback runs once. */
  beginDrain(): void {
    if (this.#draining) return
    this.#draining = true
    for (const fn of this.#onDrain.splice(0)) {
      try { fn() } catch { /* a failing drain hook must not stop the others */ }
    }
  }

  /** The result of every check by name. */
  checks(): Record<string, boolean> {
    const out: Record<string, boolean> = {}
    for (const [name, check] of this.#checks) {
      try { out[name] = check() } catch { out[name] = false }
    }
    return out
  }
}
