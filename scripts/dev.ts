/**
 * `bun run dev`: the server under `bun --watch`, restarted when any of its files changes, the
 * task files included.
 *
 * Why this entry rather than `bun --watch run src/main.ts`: `--watch` follows the import graph
 * of the main thread only, and the tasks (src/tasks/*) are imported by the pool's workers, which
 * Bun starts from a URL (`new Worker(url)`): editing a task did not restart anything and the old
 * code kept running (checked: `/tasks` still showed the old summary). Importing the registry
 * here puts every task module in the watched graph; production (`bun run start`, the binary)
 * does not load them on the main thread. A restart sends SIGTERM, so the server shuts down
 * gracefully (running jobs are put back in the queue) before the new process starts.
 *
 * @example
 * ```sh
 * bun run dev   # edit src/tasks/primes.ts: the server restarts with the new code
 * ```
 */
import '../src/tasks/registry.ts'
import '../src/main.ts'
