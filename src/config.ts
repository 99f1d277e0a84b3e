/**
 * Configuration: environment variables, each also a `--flag`, parsed and validated once at start.
 *
 * Nothing else in highperf reads `process.env`: `main.ts` calls {@link loadConfig} and hands the
 * typed {@link Config} down. A bad value is a {@link ConfigError} naming the variable and what it
 * accepts; `main.ts` prints it and exits 2. Flags win over environment variables, which win over
 * defaults. Every default serves a laptop: no variable is needed to start.
 *
 * @example
 * ```ts
 * const config = loadConfig(Bun.argv.slice(2), process.env)
 * config.port // 3000 unless PORT or --port says otherwise
 * ```
 */
import { parseArgs } from 'node:util'
import { detectCpus, type CpuDetection } from './ops/cpus.ts'

type Kind = 'int' | 'string' | 'bool' | 'duration' | 'bytes' | 'url' | 'enum' | 'path' | 'origins' | 'processes' | 'workers'

interface Spec {
  /** Environment variable name; the flag is its kebab-case lower-case form. */
  env: string
  key: keyof Config
  kind: Kind
  /** Default as the user would type it ('' for "unset"). */
  def: string
  help: string
  min?: number
  max?: number
  values?: readonly string[]
  /** kind `url`: the schemes accepted (default http: and https:). */
  schemes?: readonly string[]
}

/** The typed configuration every part of the server receives. Durations are milliseconds. */
export interface Config {
  port: number
  host: string
  workers: number
  queueLimit: number
  workerNice: number
  dataDir: string
  filesDir: string
  maxBodySize: number
  rateLimitRps: number
  rateLimitBurst: number
  trustProxy: boolean
  maxInflight: number
  cbFailureThreshold: number
  cbOpenDuration: number
  requestTimeout: number
  taskTimeout: number
  batchLimit: number
  startWait: number
  shutdownTimeout: number
  shutdownDelay: number
  llmBaseUrl: string
  /** `DATABASE_URL`: users and messages on PostgreSQL (postgres://…); '' keeps them on bun:sqlite. */
  databaseUrl: string
  /** `RATE_LIMIT_URL`: per-client limits shared through Redis (redis://…); '' keeps them in process. */
  rateLimitUrl: string
  llmApiKey: string
  llmModel: string
  llmConcurrency: number
  llmTimeout: number
  llmMaxRetries: number
  llmCacheSize: number
  jobTtl: number
  jobQueueLimit: number
  jobConcurrency: number
  jobBackoffBase: number
  /** BullMQ's Redis or PostgreSQL URL (docs/jobs.md#many-hosts); '' keeps jobs on bun:sqlite. */
  jobsUrl: string
  apiToken: string
  authReads: boolean
  tlsCertFile: string
  tlsKeyFile: string
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
  accessLog: string
  logFormat: 'auto' | 'json' | 'pretty'
  otelEndpoint: string
  otelServiceName: string
  reusePort: boolean
  sqliteLocking: 'auto' | 'exclusive' | 'shared'
  poolWake: 'message' | 'waitAsync'
  poolLongRun: number
  poolOverflow: number
  backupDir: string
  compression: 'on' | 'off'
  /** Origins allowed by CORS, as browsers send them (`https://app.example`), or `['*']`; empty: CORS off. */
  corsOrigins: readonly string[]
  corsCredentials: boolean
  /** Server processes sharing the port (`PROCESSES`; `auto` resolved to the CPUs detected). 1: no primary, no cluster code loaded. */
  processes: number
  /** How long a claimed job's lease lasts without a heartbeat before another process may take it back, ms. */
  jobLease: number
  /**
   * Set by the primary for each server process it starts (never by users): this process's slot,
   * 1..PROCESSES; 0 when the process runs alone. Read from `HIGHPERF_CLUSTER_SLOT`.
   */
  clusterSlot: number
  /**
   * Set by the primary (never by users): the shared-memory file of the host's rate-limit table,
   * from `HIGHPERF_CLUSTER_RATE_TABLE`; '' when alone.
   */
  clusterRateTable: string
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
const LOG_FORMATS = ['auto', 'json', 'pretty'] as const
const SQLITE_LOCKINGS = ['auto', 'exclusive', 'shared'] as const
const POOL_WAKES = ['message', 'waitAsync'] as const

/**
 * The CPUs this process may use, detected once at start (cgroup quota, affinity mask, host cores:
 * src/ops/cpus.ts): `WORKERS`' default, and what `--help` and the start-up log line report.
 *
 * @example detectedCpus.source // 'cgroup v2 cpu.max (/sys/fs/cgroup/cpu.max: 200000 100000) = 2 CPUs, rounded up'
 */
export const detectedCpus: CpuDetection = detectCpus()

/** The table of every setting: drives parsing, validation, `--help` and the README's table. */
export const SPECS: readonly Spec[] = [
  { env: 'PORT', key: 'port', kind: 'int', def: '3000', min: 0, max: 65535, help: 'TCP port to listen on (0 picks a free one)' },
  { env: 'HOST', key: 'host', kind: 'string', def: '0.0.0.0', help: 'Address to bind' },
  { env: 'PROCESSES', key: 'processes', kind: 'processes', def: '1', min: 1, max: 256, help: 'Server processes sharing the port on this host: 1 (no primary), auto (one per CPU detected) or a number; each runs its own WORKERS' },
  { env: 'WORKERS', key: 'workers', kind: 'workers', def: 'auto', min: 1, max: 256, help: 'Worker threads in the pool of each server process: auto (the CPUs detected, divided among PROCESSES, at least 1: the cgroup CPU quota rounded up, the CPU affinity mask and the host\'s cores; --help shows what was detected) or a number' },
  { env: 'QUEUE_LIMIT', key: 'queueLimit', kind: 'int', def: '1024', min: 1, max: 1_000_000, help: 'Tasks waiting to start (in the main queue or a worker\'s ring) before new ones get 503' },
  { env: 'POOL_WAKE', key: 'poolWake', kind: 'enum', def: 'message', values: POOL_WAKES, help: 'How pool workers wake the parked main thread: message (a postMessage on a port) or waitAsync (Atomics.notify); docs/pool.md compares them' },
  { env: 'WORKER_NICE', key: 'workerNice', kind: 'int', def: '-1', min: -1, max: 19, help: 'Nice value each pool worker thread sets for itself on Linux, so the event loop wins the CPU over CPU-bound tasks (0: same priority as the main thread; -1: 5 when the workers of all server processes, WORKERS x PROCESSES, leave no CPU to the main threads, else 0; docs/pool.md "Worker priority")' },
  { env: 'POOL_LONG_RUN', key: 'poolLongRun', kind: 'duration', def: '50ms', help: 'A task running this long no longer counts as capacity: its worker takes no new task and an overflow worker starts in its place, so short requests keep a worker (0: off; docs/pool.md)' },
  { env: 'POOL_OVERFLOW', key: 'poolOverflow', kind: 'int', def: '-1', min: -1, max: 256, help: 'Most overflow workers started while tasks run past POOL_LONG_RUN (-1: as many as WORKERS; 0: none)' },
  { env: 'DATA_DIR', key: 'dataDir', kind: 'path', def: './data', help: 'Directory for the SQLite databases' },
  { env: 'FILES_DIR', key: 'filesDir', kind: 'path', def: './public', help: 'Directory served under /files/' },
  { env: 'DATABASE_URL', key: 'databaseUrl', kind: 'url', schemes: ['postgres:', 'postgresql:'], def: '', help: 'PostgreSQL for users and messages, e.g. postgres://app:secret@db.internal:5432/app (tables created at start; docs/users-files.md#postgresql); unset: bun:sqlite files in DATA_DIR' },
  { env: 'MAX_BODY_SIZE', key: 'maxBodySize', kind: 'bytes', def: '256kb', min: 1024, help: 'Largest request body accepted (413 above), e.g. 1mb, 512kb' },
  { env: 'RATE_LIMIT_RPS', key: 'rateLimitRps', kind: 'int', def: '1000', min: 0, help: 'Token-bucket refill per client per second (0 disables rate limiting)' },
  { env: 'RATE_LIMIT_BURST', key: 'rateLimitBurst', kind: 'int', def: '2000', min: 1, help: 'Token-bucket size per client' },
  { env: 'RATE_LIMIT_URL', key: 'rateLimitUrl', kind: 'url', schemes: ['redis:', 'rediss:'], def: '', help: 'Redis shared by every highperf node for per-client rate limits, e.g. redis://10.0.0.5:6379 (a fixed window: RATE_LIMIT_BURST requests per ceil(BURST/RPS) s; while Redis is down each process limits alone; docs/resilience.md#rate-limits-across-hosts); unset: limits in process' },
  { env: 'TRUST_PROXY', key: 'trustProxy', kind: 'bool', def: 'false', help: 'Take the client address from X-Forwarded-For' },
  { env: 'MAX_INFLIGHT', key: 'maxInflight', kind: 'int', def: '0', min: 0, help: 'Concurrent requests before 503 (0: no cap)' },
  { env: 'CB_FAILURE_THRESHOLD', key: 'cbFailureThreshold', kind: 'int', def: '20', min: 1, help: 'Consecutive failures that open a circuit breaker' },
  { env: 'CB_OPEN_DURATION', key: 'cbOpenDuration', kind: 'duration', def: '2s', help: 'How long an open breaker rejects before a probe' },
  { env: 'REQUEST_TIMEOUT', key: 'requestTimeout', kind: 'duration', def: '100ms', help: 'Default deadline of a request (504 after it)' },
  { env: 'TASK_TIMEOUT', key: 'taskTimeout', kind: 'duration', def: '30s', help: 'Deadline of /tasks and /batch requests, and the largest ?timeoutMs accepted' },
  { env: 'BATCH_LIMIT', key: 'batchLimit', kind: 'int', def: '1000', min: 1, help: 'Most items in one /batch or /messages/batch request' },
  // At least 1 s: the wait also bounds the first connection, so `0` or a bare `10` (10 ms, meant
  // as 10 s) made a start against a Redis or PostgreSQL that was up fail with "no answer within 0 ms".
  { env: 'START_WAIT', key: 'startWait', kind: 'duration', def: '10s', min: 1000, max: 600_000, help: 'How long start-up waits for DATABASE_URL and JOBS_URL to answer (a database starting alongside this server), 1s to 10m; still down after it, the server exits 1 naming the setting' },
  { env: 'SHUTDOWN_TIMEOUT', key: 'shutdownTimeout', kind: 'duration', def: '5s', help: 'How long in-flight work may finish after SIGTERM' },
  { env: 'SHUTDOWN_DELAY', key: 'shutdownDelay', kind: 'duration', def: '0s', help: 'After SIGTERM, keep accepting (with /readyz 503) this long before closing the listener' },
  { env: 'LLM_BASE_URL', key: 'llmBaseUrl', kind: 'url', def: '', help: 'OpenAI-compatible base URL, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1' },
  { env: 'LLM_API_KEY', key: 'llmApiKey', kind: 'string', def: '', help: 'Bearer token for the LLM upstream (never logged)' },
  { env: 'LLM_MODEL', key: 'llmModel', kind: 'string', def: 'gpt-4o-mini', help: 'Model used when a request names none' },
  { env: 'LLM_CONCURRENCY', key: 'llmConcurrency', kind: 'int', def: '8', min: 1, max: 1024, help: 'Most upstream LLM calls at once' },
  { env: 'LLM_TIMEOUT', key: 'llmTimeout', kind: 'duration', def: '60s', help: 'Deadline of one /messages request (a batch: the whole batch)' },
  { env: 'LLM_MAX_RETRIES', key: 'llmMaxRetries', kind: 'int', def: '3', min: 0, max: 20, help: 'Retries of an upstream call on 429/5xx/network errors' },
  { env: 'LLM_CACHE_SIZE', key: 'llmCacheSize', kind: 'int', def: '0', min: 0, help: 'Identical LLM requests answered from an LRU of this size (0: off)' },
  { env: 'JOB_TTL', key: 'jobTtl', kind: 'duration', def: '24h', help: 'How long finished jobs are kept' },
  { env: 'JOB_QUEUE_LIMIT', key: 'jobQueueLimit', kind: 'int', def: '100000', min: 1, help: 'Queued jobs before POST /jobs answers 503' },
  { env: 'JOB_CONCURRENCY', key: 'jobConcurrency', kind: 'int', def: '0', min: 0, help: 'Jobs running at once (0: twice the workers)' },
  { env: 'JOB_BACKOFF_BASE', key: 'jobBackoffBase', kind: 'duration', def: '1s', help: 'Base of the exponential retry backoff of jobs' },
  { env: 'JOB_LEASE', key: 'jobLease', kind: 'duration', def: '5s', min: 300, max: 3_600_000, help: 'How long a running job stays its process\'s without a heartbeat (renewed every third of it); a job whose process died is taken back after it' },
  { env: 'JOBS_URL', key: 'jobsUrl', kind: 'url', def: '', schemes: ['redis:', 'rediss:', 'postgres:', 'postgresql:'], help: 'Jobs on BullMQ 6 shared by every node: a redis:// or rediss:// URL, or postgres:// (BullMQ\'s PostgreSQL backend); unset: jobs on bun:sqlite in DATA_DIR' },
  { env: 'API_TOKEN', key: 'apiToken', kind: 'string', def: '', help: 'Bearer token required on mutating routes (unset: no auth)' },
  { env: 'AUTH_READS', key: 'authReads', kind: 'bool', def: 'false', help: 'Require the token on reads too' },
  { env: 'TLS_CERT_FILE', key: 'tlsCertFile', kind: 'path', def: '', help: 'PEM certificate; with TLS_KEY_FILE serves HTTPS' },
  { env: 'TLS_KEY_FILE', key: 'tlsKeyFile', kind: 'path', def: '', help: 'PEM private key' },
  { env: 'LOG_LEVEL', key: 'logLevel', kind: 'enum', def: 'info', values: LOG_LEVELS, help: 'Log level' },
  { env: 'LOG_FORMAT', key: 'logFormat', kind: 'enum', def: 'auto', values: LOG_FORMATS, help: 'Log lines on stdout: json, pretty (readable, colored on a terminal), auto (pretty when stdout is a terminal, else json); an ACCESS_LOG file is always json' },
  { env: 'ACCESS_LOG', key: 'accessLog', kind: 'string', def: 'stdout', help: "Access log: 'stdout', 'off', or a file path" },
  { env: 'OTEL_EXPORTER_OTLP_ENDPOINT', key: 'otelEndpoint', kind: 'url', def: '', help: 'OTLP/HTTP endpoint for traces (unset: tracing export off)' },
  { env: 'OTEL_SERVICE_NAME', key: 'otelServiceName', kind: 'string', def: 'highperf', help: 'service.name of exported spans' },
  { env: 'REUSE_PORT', key: 'reusePort', kind: 'bool', def: 'false', help: 'SO_REUSEPORT: several processes share the port' },
  { env: 'BACKUP_DIR', key: 'backupDir', kind: 'path', def: '', help: 'Directory POST /admin/backup writes into, one timestamped folder per backup (unset: backups/ in DATA_DIR); the route answers 404 unless API_TOKEN is set' },
  { env: 'COMPRESSION', key: 'compression', kind: 'enum', def: 'on', values: ['on', 'off'], help: 'Compress JSON, /metrics and /swagger/json answers of 1 KB or more per Accept-Encoding (zstd, br, gzip); off: never (e.g. behind a proxy that compresses)' },
  { env: 'CORS_ORIGINS', key: 'corsOrigins', kind: 'origins', def: '', help: 'Origins browsers may call from (CORS), comma-separated: https://app.example,http://localhost:5173, or * for any (only without CORS_CREDENTIALS); unset: CORS off, no CORS headers (docs/http.md)' },
  { env: 'CORS_CREDENTIALS', key: 'corsCredentials', kind: 'bool', def: 'false', help: 'Send Access-Control-Allow-Credentials: true to the CORS_ORIGINS listed (cookies, HTTP auth); refused with CORS_ORIGINS=*' },
  { env: 'SQLITE_LOCKING', key: 'sqliteLocking', kind: 'enum', def: 'auto', values: SQLITE_LOCKINGS, help: 'users/messages databases: exclusive (this process owns them; reads take no file locks), shared (several processes; jobs.sqlite then counts its queue limit in SQL and waits for the write lock off the event loop), auto (exclusive unless REUSE_PORT or PROCESSES > 1)' },
]

/** A bad configuration value; `main.ts` prints `message` and exits 2. */
export class ConfigError extends Error {
  readonly code = 'invalid_config'
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

/** What {@link loadConfig} found on the command line besides settings. */
export type ConfigResult =
  | { kind: 'config'; config: Config }
  | { kind: 'help'; text: string }
  | { kind: 'version' }
  | { kind: 'check'; config: Config }

const flagOf = (env: string): string => env.toLowerCase().replaceAll('_', '-')

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const BYTE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }

/**
 * Parses a duration: `250ms`, `5s`, `2m`, `24h`, `1m30s`, or a bare number of milliseconds.
 *
 * @example parseDuration('1m30s') // 90000
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim()
  if (/^\d+$/.test(t)) return Number(t)
  const parts = t.match(/^((\d+(?:\.\d+)?)(ms|s|m|h))+$/)
  if (!parts) return undefined
  let total = 0
  for (const [, n, unit] of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(n) * (DURATION_UNITS[unit as string] ?? 0)
  }
  return Math.round(total)
}

/**
 * Parses a size: `512kb`, `1mb`, `1gb`, or a bare number of bytes.
 *
 * @example parseBytes('1mb') // 1048576
 */
export function parseBytes(text: string): number | undefined {
  const m = text.trim().toLowerCase().match(/^(\d+(?:\.\d+)?)(b|kb|mb|gb)?$/)
  if (!m) return undefined
  return Math.round(Number(m[1]) * (BYTE_UNITS[m[2] ?? 'b'] ?? 1))
}

function accepts(spec: Spec): string {
  switch (spec.kind) {
    case 'int': {
      const lo = spec.min ?? '-∞'
      const hi = spec.max ?? '∞'
      return `an integer from ${lo} to ${hi}`
    }
    case 'bool': return 'true or false (also 1/0, yes/no)'
    case 'duration': {
      // A bounded one says its bounds, so the examples never name a value it refuses (JOB_LEASE=250ms).
      if (spec.min === undefined && spec.max === undefined) return 'a duration such as 250ms, 5s, 2m, 24h or a number of milliseconds'
      const at = (ms: number): string => (ms % 3_600_000 === 0 && ms > 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 && ms > 0 ? `${ms / 60_000}m` : ms % 1000 === 0 && ms > 0 ? `${ms / 1000}s` : `${ms}ms`)
      return `a duration from ${at(spec.min ?? 0)}${spec.max === undefined ? '' : ` to ${at(spec.max)}`} written like 5s, 2m, 1h or a number of milliseconds`
    }
    case 'bytes': return `a size such as 512kb, 1mb or a number of bytes${spec.min ? ` (at least ${spec.min})` : ''}`
    case 'url': return spec.schemes === undefined ? 'an http:// or https:// URL' : `a ${spec.schemes.map((x) => `${x}//`).join(' or ')} URL with a host (user, password and database percent-encoded${spec.schemes.includes('redis:') ? '; a Redis database is a number, /0' : ''})`
    case 'enum': return `one of ${(spec.values ?? []).join(', ')}`
    case 'processes': return `auto or an integer from ${spec.min} to ${spec.max}`
    case 'workers': return `auto or an integer from ${spec.min} to ${spec.max}`
    case 'origins': return '* alone, or a comma-separated list of origins such as https://app.example,http://localhost:5173 (scheme://host[:port], no path)'
    default: return 'a string'
  }
}

function convert(spec: Spec, raw: string): unknown {
  const fail = (): never => {
    // A URL's password never reaches the message (DATABASE_URL, RATE_LIMIT_URL carry one).
    const shown = spec.kind === 'url' ? raw.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@') : raw
    throw new ConfigError(`${spec.env} (--${flagOf(spec.env)}) is ${JSON.stringify(shown)}; it accepts ${accepts(spec)}`)
  }
  switch (spec.kind) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) return fail()
      const n = Number(raw)
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) return fail()
      return n
    }
    case 'bool': {
      const v = raw.trim().toLowerCase()
      if (['true', '1', 'yes', 'on'].includes(v)) return true
      if (['false', '0', 'no', 'off', ''].includes(v)) return false
      return fail()
    }
    case 'duration': {
      const ms = parseDuration(raw)
      if (ms === undefined || (spec.min !== undefined && ms < spec.min) || (spec.max !== undefined && ms > spec.max)) return fail()
      return ms
    }
    case 'processes':
    case 'workers': {
      // 'auto' is resolved once every setting is read (workers depend on processes): 0 marks it.
      if (raw.trim() === 'auto') return 0
      if (!/^\d+$/.test(raw.trim())) return fail()
      const n = Number(raw)
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) return fail()
      return n
    }
    case 'bytes': {
      const n = parseBytes(raw)
      if (n === undefined || (spec.min !== undefined && n < spec.min)) return fail()
      return n
    }
    case 'url': {
      if (raw === '') return ''
      let u: URL
      try { u = new URL(raw) } catch { return fail() }
      if (!(spec.schemes ?? ['http:', 'https:']).includes(u.protocol)) return fail()
      if (spec.schemes !== undefined && !serviceUrlOk(u)) return fail()
      return spec.schemes === undefined ? raw.replace(/\/+$/, '') : raw
    }
    case 'enum':
      return (spec.values ?? []).includes(raw) ? raw : fail()
    case 'origins':
      return parseOrigins(raw) ?? fail()
    default:
      return raw
  }
}

/**
 * Whether a Redis or PostgreSQL URL names what its client will use: a host (`redis://` alone
 * would silently mean localhost:6379; PostgreSQL may name its socket directory as `?host=`),
 * credentials and database name that percent-decode (ioredis and Bun.sql decode them and throw a
 * bare `URI error` at start otherwise), and for Redis a numeric database (`/0`…).
 *
 * @example serviceUrlOk(new URL('redis://')) // false
 */
function serviceUrlOk(u: URL): boolean {
  const pg = u.protocol === 'postgres:' || u.protocol === 'postgresql:'
  if (u.hostname === '' && !(pg && u.searchParams.has('host'))) return false
  try {
    decodeURIComponent(u.username)
    decodeURIComponent(u.password)
    decodeURIComponent(u.pathname)
  } catch {
    return false
  }
  return pg || /^\/?(?:\d{1,5})?$/.test(u.pathname)
}

/**
 * `CORS_ORIGINS` as origins the way a browser's `Origin` header spells them (lower-case scheme and
 * host, no default port), so matching is one exact lookup; `['*']` for `*`; `[]` when unset.
 * Undefined when an entry is not an http(s) origin (a path, a query, `null`, `*` among others).
 *
 * @example parseOrigins('https://App.example:443, http://localhost:5173') // ['https://app.example', 'http://localhost:5173']
 */
export function parseOrigins(raw: string): string[] | undefined {
  const entries = raw.split(',').map((e) => e.trim()).filter((e) => e !== '')
  if (entries.length === 0) return []
  if (entries.includes('*')) return entries.length === 1 ? ['*'] : undefined
  const out: string[] = []
  for (const entry of entries) {
    let u: URL
    try { u = new URL(entry) } catch { return undefined }
    // An origin is scheme://host[:port]: anything more (a path, a query, credentials) is a mistake
    // that would never match, so it is refused rather than silently ignored.
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '' || !/^[a-z]+:\/\/[^/?#]+\/?$/i.test(entry)) return undefined
    if (!out.includes(u.origin)) out.push(u.origin)
  }
  return out
}

/** The `--help` text, generated from {@link SPECS}. */
export function helpText(): string {
  const lines = [
    'highperf: a high-performance API server on Bun',
    '',
    'Usage: highperf [--flag value ...]   (every flag is also an environment variable)',
    '',
    '  --help                 print this help and exit',
    '  --version              print the version and exit',
    '  --check                validate the settings and DATA_DIR, FILES_DIR, TLS files; exit 0 or 2 without serving',
    '',
    'Subcommands (each has --help):',
    '  healthcheck            probe /readyz of a running server: exit 0 when ready, 1 otherwise',
    '  backup --to DIR        consistent copy of the databases while the server runs',
    '',
    `CPUs detected: ${detectedCpus.count}, from ${detectedCpus.source}`,
    '',
  ]
  for (const s of SPECS) {
    const flag = `--${flagOf(s.env)}`.padEnd(30)
    // auto's value here, so an operator sees what this machine's cgroup quota and affinity give.
    const def = s.env === 'WORKERS' ? `auto = ${detectedCpus.count} ÷ PROCESSES` : s.env === 'PROCESSES' ? `${s.def}; auto = ${detectedCpus.count}` : s.def
    lines.push(`  ${flag} ${s.env.padEnd(28)} ${s.help}${def ? ` [default: ${def}]` : ''}`)
  }
  return lines.join('\n')
}

/**
 * Reads flags (`argv`, without the program name) and environment variables into a validated
 * {@link Config}, or reports `--help` / `--version`. Throws {@link ConfigError} on a bad value or an
 * unknown flag.
 *
 * @example
 * ```ts
 * const r = loadConfig(['--port', '8080'], {})
 * if (r.kind === 'config') r.config.port // 8080
 * ```
 */
export function loadConfig(argv: readonly string[], env: Record<string, string | undefined>): ConfigResult {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' }, version: { type: 'boolean' }, check: { type: 'boolean' } }
  for (const s of SPECS) options[flagOf(s.env)] = { type: 'string' }
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as typeof values
  } catch (e) {
    throw new ConfigError(`${(e as Error).message}; run with --help for the list of flags`)
  }
  if (values.help) return { kind: 'help', text: helpText() }
  if (values.version) return { kind: 'version' }

  const out: Record<string, unknown> = {}
  for (const s of SPECS) {
    const flag = values[flagOf(s.env)]
    const raw = typeof flag === 'string' ? flag : env[s.env] ?? s.def
    out[s.key] = convert(s, raw)
  }
  const config = out as unknown as Config
  // PROCESSES=auto: one server process per CPU detected. WORKERS=auto: the CPUs divided among the
  // processes (at least 1 each), so PROCESSES x WORKERS never oversubscribes the CPUs by default.
  if (config.processes === 0) config.processes = Math.max(1, detectedCpus.count)
  if (config.workers === 0) config.workers = defaultWorkers(detectedCpus.count, config.processes)
  config.clusterSlot = clusterSlot(env.HIGHPERF_CLUSTER_SLOT)
  config.clusterRateTable = env.HIGHPERF_CLUSTER_RATE_TABLE ?? ''
  if (config.corsCredentials && config.corsOrigins.includes('*')) {
    // Browsers refuse `*` with credentials; reflecting every origin instead would hand any site the
    // user's cookies: list the origins.
    throw new ConfigError('CORS_CREDENTIALS=true needs CORS_ORIGINS to list the origins; * is allowed only without credentials')
  }
  if ((config.tlsCertFile === '') !== (config.tlsKeyFile === '')) {
    throw new ConfigError('TLS_CERT_FILE and TLS_KEY_FILE go together: set both to serve HTTPS, or neither')
  }
  return values.check ? { kind: 'check', config } : { kind: 'config', config }
}

/**
 * WORKERS' default: the CPUs this process may use divided among the server processes, at least 1.
 *
 * @example defaultWorkers(16, 4) // 4
 */
export function defaultWorkers(cpus: number, processes: number): number {
  return Math.max(1, Math.floor(cpus / Math.max(1, processes)))
}

/** The slot the primary gave this process (`HIGHPERF_CLUSTER_SLOT`), 0 when alone or malformed. */
function clusterSlot(raw: string | undefined): number {
  if (raw === undefined || !/^\d{1,3}$/.test(raw)) return 0
  return Number(raw)
}

/**
 * A complete configuration for tests and embedding: the defaults with `overrides` on top, checked
 * like the real thing.
 *
 * @example
 * ```ts
 * const config = testConfig({ dataDir: tmp, workers: 2 })
 * ```
 */
export function testConfig(overrides: Partial<Config> = {}): Config {
  const r = loadConfig([], {})
  if (r.kind !== 'config') throw new Error('unreachable')
  return { ...r.config, accessLog: 'off', logLevel: 'silent', ...overrides }
}
