/**
 * `hash`: the digest of UTF-8 `text` or base64 `bytes` with Bun's native `CryptoHasher`
 * (BoringSSL): sha256, sha512, blake2b256 or blake2b512, as hex or base64.
 *
 * @example POST /tasks/hash {"text": "hello"} -> {"algorithm":"sha256","encoding":"hex","length":5,"digest":"2cf24d..."}
 */
import { Type } from '@sinclair/typebox'
import { defineTask } from './types.ts'
import { PayloadFields, payloadBytes } from './payload.ts'

/** The algorithms offered (a subset of `Bun.CryptoHasher.algorithms` that is not broken). */
export const HASH_ALGORITHMS = ['sha256', 'sha512', 'blake2b256', 'blake2b512'] as const

export const hash = defineTask({
  name: 'hash',
  summary: 'Digest (sha256, sha512, blake2b256, blake2b512) of text or base64 bytes, as hex or base64',
  input: Type.Object(
    {
      ...PayloadFields,
      algorithm: Type.Optional(Type.Union(HASH_ALGORITHMS.map((a) => Type.Literal(a)), { default: 'sha256' })),
      encoding: Type.Optional(Type.Union([Type.Literal('hex'), Type.Literal('base64')], { default: 'hex' })),
    },
    { additionalProperties: false },
  ),
  example: { text: 'hello', algorithm: 'sha256', encoding: 'hex' },
  handler(input) {
    const data = payloadBytes(input, 'hash')
    const algorithm = input.algorithm ?? 'sha256'
    const encoding = input.encoding ?? 'hex'
    const hasher = new Bun.CryptoHasher(algorithm)
    hasher.update(data)
    return { algorithm, encoding, length: data.length, digest: hasher.digest(encoding) }
  },
})
