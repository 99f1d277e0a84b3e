/**
 * Test support for end-to-end cluster tests: keep-alive connections pinned to a chosen server
 * process. The kernel spreads new connections over the processes (`reusePort`); a connection
 * stays with the process that accepted it. So: open connections, send `GET /healthz` on each,
 * read the access-log line carrying the answer's `x-request-id` to learn which process (pid)
 * answered, and keep one connection per process.
 *
 * Responses are parsed by hand (Content-Length or chunked); {@link PinnedConnection.events}
 * reads a Server-Sent Events stream as it comes, each event stamped with its arrival time.
 *
 * @example
 * ```ts
 * const byPid = await pinConnections(port, cluster, [...cluster.readyPids().values()])
 * const a = byPid.get(pidA)!
 * const res = await a.request('POST', '/jobs', { task: 'sleep', input: { ms: 500 } })
 * a.close()
 * ```
 */
import { connect, type Socket } from 'node:net'
import type { SpawnedCluster } from './support.ts'

/** One parsed answer. */
export interface PinnedResponse {
  status: number
  headers: Record<string, string>
  body: string
  json<T = unknown>(): T
}

/** One Server-Sent Event, stamped at arrival with `performance.now()` and the wall clock (epoch ms). */
export interface SseEvent {
  event: string
  data: string
  at: number
  wall: number
}

/** A keep-alive HTTP/1.1 connection answering one request at a time. */
export class PinnedConnection {
  #buf = Buffer.alloc(0)
  #wake: (() => void) | undefined
  #closed = false
  /** The pid of the process that answers on this connection, once learnt. */
  pid = 0

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d])
      this.#wake?.()
    })
    const end = (): void => {
      this.#closed = true
      this.#wake?.()
    }
    socket.on('close', end)
    socket.on('error', end)
  }

  /** Connects to 127.0.0.1:`port`, from `localAddress` when given (another loopback address is another client). */
  static open(port: number, localAddress?: string): Promise<PinnedConnection> {
    return new Promise((resolve, reject) => {
      const s = connect(localAddress === undefined ? { port, host: '127.0.0.1' } : { port, host: '127.0.0.1', localAddress })
      s.setNoDelay(true)
      s.once('connect', () => resolve(new PinnedConnection(s)))
      s.once('error', reject)
    })
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Sends one request (a JSON body when given) and resolves with the whole answer. */
  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<PinnedResponse> {
    this.#send(method, path, body, headers)
    const deadline = performance.now() + timeoutMs
    const head = await this.#head(deadline)
    let text: string
    if (head.headers['transfer-encoding'] === 'chunked') {
      let out = ''
      for (;;) {
        const chunk = await this.#chunk(deadline)
        if (chunk === undefined) break
        out += chunk
      }
      text = out
    } else {
      const n = Number(head.headers['content-length'] ?? 0)
      await this.#until(() => this.#buf.length >= n, deadline)
      text = this.#buf.subarray(0, n).toString('utf8')
      this.#buf = this.#buf.subarray(n)
    }
    return { ...head, body: text, json: <T>() => JSON.parse(text) as T }
  }

  /**
   * Sends `GET path` and reads its event stream until it ends (or `timeoutMs`), calling
   * `onEvent` for each event as it arrives; resolves with every event and whether the stream ended.
   */
  async events(path: string, onEvent: (e: SseEvent) => void = () => {}, timeoutMs = 20_000): Promise<{ status: number; events: SseEvent[]; ended: boolean }> {
    this.#send('GET', path, undefined, { accept: 'text/event-stream' })
    const deadline = performance.now() + timeoutMs
    const head = await this.#head(deadline)
    const events: SseEvent[] = []
    let pending = ''
    let ended = false
    try {
      for (;;) {
        const chunk = await this.#chunk(deadline)
        if (chunk === undefined) {
          ended = true
          break
        }
        pending += chunk
        let i: number
        while ((i = pending.indexOf('\n\n')) !== -1) {
          const block = pending.slice(0, i)
          pending = pending.slice(i + 2)
          let event = 'message'
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim()
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
          }
          if (data.length === 0) continue // a heartbeat comment
          const e = { event, data: data.join('\n'), at: performance.now(), wall: Date.now() }
          events.push(e)
          onEvent(e)
        }
      }
    } catch {
      // timed out or closed: `ended` stays false
    }
    return { status: head.status, events, ended }
  }

  close(): void {
    this.socket.destroy()
  }

  #send(method: string, path: string, body: unknown, headers: Record<string, string>): void {
    const payload = body === undefined ? '' : JSON.stringify(body)
    let req = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`
    for (const [k, v] of Object.entries(headers)) req += `${k}: ${v}\r\n`
    if (body !== undefined) req += `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n`
    this.socket.write(`${req}\r\n${payload}`)
  }

  async #until(ready: () => boolean, deadline: number): Promise<void> {
    while (!ready()) {
      if (this.#closed) throw new Error('connection closed')
      const left = deadline - performance.now()
      if (left <= 0) throw new Error('timed out')
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#wake = () => { clearTimeout(timer); resolve() }
      })
      this.#wake = undefined
    }
  }

  async #head(deadline: number): Promise<{ status: number; headers: Record<string, string> }> {
    await this.#until(() => this.#buf.indexOf('\r\n\r\n') !== -1, deadline)
    const end = this.#buf.indexOf('\r\n\r\n')
    const lines = this.#buf.subarray(0, end).toString('latin1').split('\r\n')
    this.#buf = this.#buf.subarray(end + 4)
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0)
    const headers: Record<string, string> = {}
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':')
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
    }
    return { status, headers }
  }

  /** The next chunk of a chunked body; undefined at its end. */
  async #chunk(deadline: number): Promise<string | undefined> {
    await this.#until(() => this.#buf.indexOf('\r\n') !== -1, deadline)
    const eol = this.#buf.indexOf('\r\n')
    const size = Number.parseInt(this.#buf.subarray(0, eol).toString('latin1'), 16)
    await this.#until(() => this.#buf.length >= eol + 2 + size + 2, deadline)
    const data = this.#buf.subarray(eol + 2, eol + 2 + size).toString('utf8')
    this.#buf = this.#buf.subarray(eol + 2 + size + 2)
    return size === 0 ? undefined : data
  }
}

/**
 * Opens connections until every pid of `pids` has one (a `GET /healthz` on each, its process read
 * from the access log); extra connections are closed. Needs `ACCESS_LOG=stdout` and JSON lines.
 */
export async function pinConnections(port: number, cluster: SpawnedCluster, pids: readonly number[], options: { localAddress?: string; maxTries?: number } = {}): Promise<Map<number, PinnedConnection>> {
  const out = new Map<number, PinnedConnection>()
  for (let i = 0; i < (options.maxTries ?? 200) && out.size < pids.length; i++) {
    const c = await PinnedConnection.open(port, options.localAddress)
    const from = cluster.lines.length
    const res = await c.request('GET', '/healthz')
    const id = res.headers['x-request-id']
    const line = await cluster.waitFor((l) => l.msg === 'request' && l.requestId === id, 5000, from)
    c.pid = line.pid as number
    if (pids.includes(c.pid) && !out.has(c.pid)) out.set(c.pid, c)
    else c.close()
  }
  if (out.size < pids.length) throw new Error(`could not reach every process: ${[...out.keys()]} of ${pids}`)
  return out
}
