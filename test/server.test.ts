import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { testConfig } from '../src/config.ts'
import { silentLogger } from '../src/log.ts'
import { startServer } from '../src/server.ts'
import { tempDir } from './support/deps.ts'

const tmp = tempDir()
afterAll(() => tmp.remove())

describe('startServer', () => {
  test('shutdown is bounded even when a part hangs while closing (an OTLP endpoint that never answers)', async () => {
    // A receiver that accepts the final span export and never answers it.
    const hang = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Promise<Response>(() => {}) })
    try {
      const srv = await startServer(
        testConfig({
          port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), workers: 1, shutdownTimeout: 300,
          otelEndpoint: `http://127.0.0.1:${hang.port}`,
        }),
        { log: silentLogger() },
      )
      expect((await fetch(`${srv.url}healthz`)).status).toBe(200) // one span waits for export
      const t0 = performance.now()
      await srv.shutdown()
      // Each closer gets SHUTDOWN_TIMEOUT + 1 s at most; the SDK's own export timeout is 10 s.
      expect(performance.now() - t0).toBeLessThan(8000)
    } finally {
      hang.stop(true)
    }
  })
})
