/**
 * A TCP proxy for outage tests: clients connect to `proxy.port`, bytes go to the real service
 * (Redis, PostgreSQL) and back. `stop()` closes the port and cuts every connection (the service
 * is down), `freeze()` keeps connections open but forwards nothing (the service hangs), and
 * `restart()` listens on the same port again (the service is back).
 *
 * @example
 * ```ts
 * const proxy = await TcpProxy.start(6379)
 * const redis = new Redis(`redis://127.0.0.1:${proxy.port}`)
 * proxy.stop()        // down
 * await proxy.restart() // back
 * ```
 */
import type { Socket, TCPSocketListener } from 'bun'

interface Side {
  /** The other socket of the pair, once connected. */
  peer: Socket<Side> | undefined
  /** Bytes for `peer` that did not fit yet (or arrived before it connected). */
  queue: Uint8Array[]
}

function pump(to: Socket<Side>, queue: Uint8Array[]): void {
  while (queue.length > 0) {
    const chunk = queue[0]!
    const wrote = to.write(chunk)
    if (wrote < chunk.length) {
      queue[0] = chunk.subarray(Math.max(0, wrote))
      return
    }
    queue.shift()
  }
}

/** See the module comment. */
export class TcpProxy {
  readonly port: number
  readonly #targetPort: number
  readonly #host: string
  #server: TCPSocketListener<Side> | undefined
  readonly #sockets = new Set<Socket<Side>>()
  #frozen = false

  private constructor(targetPort: number, host: string) {
    this.#targetPort = targetPort
    this.#host = host
    this.#server = this.#listen(0)
    this.port = this.#server.port
  }

  /** A proxy on a free port of 127.0.0.1 to `host:targetPort`. */
  static async start(targetPort: number, host = '127.0.0.1'): Promise<TcpProxy> {
    return new TcpProxy(targetPort, host)
  }

  #listen(port: number): TCPSocketListener<Side> {
    const sockets = this.#sockets
    const forward = (from: Socket<Side>, chunk: Uint8Array): void => {
      const peer = from.data.peer
      // Bytes for the other side wait in ITS queue until it exists, drains, or is unfrozen.
      const target = peer === undefined ? from.data : peer.data
      target.queue.push(new Uint8Array(chunk))
      if (peer !== undefined && !this.#frozen) pump(peer, peer.data.queue)
    }
    const handlers = {
      data: forward,
      drain: (s: Socket<Side>) => { if (!this.#frozen) pump(s, s.data.queue) },
      close: (s: Socket<Side>) => {
        sockets.delete(s)
        s.data.peer?.end()
      },
      error: (s: Socket<Side>) => { s.end() },
    }
    return Bun.listen<Side>({
      hostname: '127.0.0.1',
      port,
      socket: {
        ...handlers,
        open: (client) => {
          client.data = { peer: undefined, queue: [] }
          sockets.add(client)
          Bun.connect<Side>({
            hostname: this.#host,
            port: this.#targetPort,
            data: { peer: client, queue: [] },
            socket: {
              ...handlers,
              open: (up) => {
                sockets.add(up)
                client.data.peer = up
                // What the client sent while this connection was being made.
                up.data.queue.push(...client.data.queue.splice(0))
                if (!this.#frozen) pump(up, up.data.queue)
              },
              connectError: () => { client.end() },
            },
          }).catch(() => client.end())
        },
      },
    })
  }

  /** The service is down: the port is closed and every connection cut. */
  stop(): void {
    this.#server?.stop(true)
    this.#server = undefined
    for (const s of this.#sockets) s.terminate()
    this.#sockets.clear()
  }

  /** The service hangs: connections stay open, nothing is forwarded either way (held until `restart`). */
  freeze(): void {
    this.#frozen = true
  }

  /** The service answers again: unfrozen, and listening on the same port if stopped. */
  async restart(): Promise<void> {
    this.#frozen = false
    for (const s of this.#sockets) if (s.data.peer !== undefined || s.data.queue.length > 0) pump(s, s.data.queue)
    this.#server ??= this.#listen(this.port)
  }
}
