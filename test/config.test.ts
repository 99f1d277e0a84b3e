import { describe, expect, test } from 'bun:test'
import { ConfigError, loadConfig, parseBytes, parseDuration } from '../src/config.ts'

const cfg = (argv: string[], env: Record<string, string> = {}) => {
  const r = loadConfig(argv, env)
  if (r.kind !== 'config') throw new Error('expected a config')
  return r.config
}

describe('config', () => {
  test('needs no variable to start and serves a laptop by default', () => {
    const c = cfg([])
    expect(c.port).toBe(3000)
    expect(c.dataDir).toBe('./data')
    expect(c.shutdownTimeout).toBe(5000)
    expect(c.llmBaseUrl).toBe('')
  })

  test('flags win over environment variables', () => {
    expect(cfg(['--port', '8081'], { PORT: '8080' }).port).toBe(8081)
    expect(cfg([], { PORT: '8080' }).port).toBe(8080)
    expect(cfg(['--shutdown-timeout', '2s']).shutdownTimeout).toBe(2000)
  })

  test('a bad value names the variable and what it accepts', () => {
    expect(() => cfg([], { PORT: 'eighty' })).toThrow(/PORT \(--port\) is "eighty"; it accepts an integer from 0 to 65535/)
    expect(() => cfg([], { WORKERS: '0' })).toThrow(/WORKERS/)
    expect(() => cfg([], { SHUTDOWN_TIMEOUT: 'soon' })).toThrow(/SHUTDOWN_TIMEOUT .*duration/)
    expect(() => cfg([], { LOG_LEVEL: 'loud' })).toThrow(/one of trace, debug/)
    expect(() => cfg([], { LLM_BASE_URL: 'ftp://x' })).toThrow(/LLM_BASE_URL/)
    expect(() => cfg([], { TLS_CERT_FILE: 'a.pem' })).toThrow(ConfigError)
  })

  test('RATE_LIMIT_BURST below 1 is refused by its own bound, naming the variable', () => {
    expect(() => cfg([], { RATE_LIMIT_BURST: '0' })).toThrow(/RATE_LIMIT_BURST \(--rate-limit-burst\) is "0"; it accepts an integer from 1 to/)
    expect(cfg([], { RATE_LIMIT_BURST: '1' }).rateLimitBurst).toBe(1)
  })

  test('an unknown flag is a ConfigError, not a crash', () => {
    expect(() => cfg(['--no-such-flag'])).toThrow(ConfigError)
  })

  test('--help and --version are recognised', () => {
    const h = loadConfig(['--help'], {})
    expect(h.kind).toBe('help')
    if (h.kind === 'help') expect(h.text).toContain('--rate-limit-rps')
    expect(loadConfig(['--version'], {}).kind).toBe('version')
  })

  test('durations and sizes parse the usual spellings', () => {
    expect(parseDuration('250ms')).toBe(250)
    expect(parseDuration('1m30s')).toBe(90_000)
    expect(parseDuration('24h')).toBe(86_400_000)
    expect(parseDuration('1500')).toBe(1500)
    expect(parseDuration('fast')).toBeUndefined()
    expect(parseBytes('1mb')).toBe(1024 * 1024)
    expect(parseBytes('10')).toBe(10)
    expect(parseBytes('lots')).toBeUndefined()
  })
})
