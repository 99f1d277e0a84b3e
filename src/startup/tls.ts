/**
 * The start-up check of `TLS_CERT_FILE` and `TLS_KEY_FILE`: each must be a readable PEM file,
 * and the key must be the certificate's.
 *
 * Why before `Bun.serve`: its own errors do not say which file is at fault ("PEM routines:
 * NO_START_LINE" for either, "KEY_VALUES_MISMATCH"), and a missing file surfaces as a bare ENOENT.
 * The files are parsed with node:crypto, which uses the same BoringSSL as Bun's TLS, so what
 * passes here is what `Bun.serve` accepts.
 *
 * @example
 * ```ts
 * checkTlsFiles(config.tlsCertFile, config.tlsKeyFile) // throws StartupError('tls_file', …)
 * ```
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { errorCode, shortReason, StartupError, thisProcess, runningUid } from './error.ts'

/** Far above any real certificate chain; keeps a mistaken path (a log, /dev/zero) from being read whole. */
const MAX_PEM_BYTES = 1024 * 1024

type TlsSetting = 'TLS_CERT_FILE' | 'TLS_KEY_FILE'
const FLAG: Record<TlsSetting, string> = { TLS_CERT_FILE: '--tls-cert-file', TLS_KEY_FILE: '--tls-key-file' }

/** Reads the PEM file a TLS setting names, or throws a StartupError naming the setting and the path. */
function readPem(setting: TlsSetting, path: string): string {
  const fail = (problem: string, fix: string, cause?: unknown) =>
    new StartupError('tls_file', path, `${setting} ${path} ${problem}`, fix, { cause })
  const point = `set ${setting} (${FLAG[setting]}) to the PEM file's path`
  try {
    const st = statSync(path)
    if (st.isDirectory()) throw fail('is a directory, not a PEM file', point)
    if (!st.isFile()) throw fail('is not a regular file', point)
    if (st.size > MAX_PEM_BYTES) throw fail(`is ${st.size} bytes, too large for a PEM ${setting === 'TLS_CERT_FILE' ? 'certificate' : 'key'}`, point)
    return readFileSync(path, 'utf8')
  } catch (err) {
    if (err instanceof StartupError) throw err
    const code = errorCode(err)
    if (code === 'ENOENT') throw fail('does not exist', point, err)
    if (code === 'ENOTDIR') throw fail('does not exist (a part of the path is a file)', point, err)
    if (code === 'EACCES' || code === 'EPERM') {
      const uid = runningUid()
      throw fail(`is not readable by ${thisProcess()}: ${shortReason(err)}`, `make it readable by ${uid === undefined ? 'the server\'s user' : `uid ${uid}`} (chmod/chown), or ${point}`, err)
    }
    throw fail(`cannot be read: ${shortReason(err)}`, point, err)
  }
}

/** An OpenSSL error text without its "error:0900006e:PEM routines:OPENSSL_internal:" prefix. */
function opensslReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message.replace(/^error:[0-9a-f]+:[^:]*:[^:]*:/i, '').trim() || message
}

/**
 * Checks the TLS files (nothing to do when both settings are empty; the config requires both or
 * neither). Throws a {@link StartupError} (`tls_file`) naming the file and the fix.
 *
 * @example checkTlsFiles('/etc/highperf/cert.pem', '/etc/highperf/key.pem')
 */
export function checkTlsFiles(certFile: string, keyFile: string): void {
  if (certFile === '' && keyFile === '') return
  const certPath = resolve(certFile)
  const keyPath = resolve(keyFile)
  const certPem = readPem('TLS_CERT_FILE', certPath)
  const keyPem = readPem('TLS_KEY_FILE', keyPath)
  let cert: X509Certificate
  try {
    cert = new X509Certificate(certPem)
  } catch (err) {
    throw new StartupError('tls_file', certPath, `TLS_CERT_FILE ${certPath} is not a PEM certificate (${opensslReason(err)})`,
      'set TLS_CERT_FILE (--tls-cert-file) to a file holding "-----BEGIN CERTIFICATE-----"', { cause: err })
  }
  let key: KeyObject
  try {
    key = createPrivateKey(keyPem)
  } catch (err) {
    throw new StartupError('tls_file', keyPath, `TLS_KEY_FILE ${keyPath} is not an unencrypted PEM private key (${opensslReason(err)})`,
      'set TLS_KEY_FILE (--tls-key-file) to the certificate\'s private key in PEM, without a passphrase', { cause: err })
  }
  if (!cert.checkPrivateKey(key)) {
    throw new StartupError('tls_file', keyPath, `TLS_KEY_FILE ${keyPath} is not the private key of TLS_CERT_FILE ${certPath}`,
      'use the key the certificate was issued for', {})
  }
}
