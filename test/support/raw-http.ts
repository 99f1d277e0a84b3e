/**
 * Test support: send bytes to a server exactly as written, bypassing `fetch()` (which normalises
 * `../`, percent-encoding and backslashes before they leave the client), and read the answer.
 *
 * @example
 * ```ts
 * const res = await rawRequest(port, 'GET /files/../etc/passwd HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
 * res.status // 404
 * ```
 */
import { connect } from 'node:net'

/** A parsed HTTP/1.1 answer (the body as received; chunked bodies are not decoded). */
export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
  raw: string
}

/**
 * Writes `data` (then optionally `more` chunks, each after a short pause) to 127.0.0.1:`port` and
 * resolves with everything read until the server closes, or after `timeoutMs`.
 */
export function rawRequest(port: number, data: string | Uint8Array, options: { more?: Array<string | Uint8Array>; timeoutMs?: number } = {}): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(parseResponse(Buffer.concat(chunks).toString('latin1')))
    }
    const timer = setTimeout(finish, options.timeoutMs ?? 5000)
    socket.on('data', (d: Buffer) => chunks.push(d))
    socket.on('close', finish)
    socket.on('error', finish)
    socket.write(data)
    let delay = 0
    for (const m of options.more ?? []) {
      delay += 20
      setTimeout(() => { if (!done && !socket.destroyed) socket.write(m) }, delay)
    }
  })
}

/** Parses the first response in `raw` (status 0 when nothing parsable came back). */
export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  const head = end === -1 ? raw : raw.slice(0, end)
  const lines = head.split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0)
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':')
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  return { status, headers, body: end === -1 ? '' : raw.slice(end + 4), raw }
}

/** Encodes `body` as HTTP/1.1 chunked transfer coding in pieces of `size` bytes. */
export function chunked(body: string, size = 1024): string {
  let out = ''
  for (let i = 0; i < body.length; i += size) {
    const c = body.slice(i, i + size)
    out += `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`
  }
  return `${out}0\r\n\r\n`
}
