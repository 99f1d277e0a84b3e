/**
 * The optional answer cache (`LLM_CACHE_SIZE`, 0 = off): identical requests (same model, system
 * prompt, temperature and input) are answered from an LRU of that many entries, without an
 * upstream call. Uses `lru-cache` (well kept, O(1) operations).
 *
 * Identical means byte-identical after choosing the model; with a temperature above 0 the
 * upstream would have answered differently each time, which is why the cache is opt-in.
 *
 * @example
 * ```ts
 * const cache = new ChatCache(500)
 * cache.set('gpt-4o-mini', { input: 'Hola' }, result)
 * cache.get('gpt-4o-mini', { input: 'Hola' }) // result
 * ```
 */
import { LRUCache } from 'lru-cache'
import type { ChatRequest, ChatResult } from './types.ts'

/** An LRU of answers keyed by (model, system, temperature, input). */
export class ChatCache {
  readonly #lru: LRUCache<string, ChatResult>

  /**
   * @param size most answers kept (>= 1)
   * @example
   * ```ts
   * new ChatCache(config.llmCacheSize)
   * ```
   */
  constructor(size: number) {
    this.#lru = new LRUCache<string, ChatResult>({ max: size })
  }

  /**
   * The key of a request: a JSON array, so no two different requests can collide (no separator
   * inside one field can imitate another field).
   *
   * @example
   * ```ts
   * ChatCache.key('m', { input: 'a' }) // '["m",null,null,"a"]'
   * ```
   */
  static key(model: string, req: ChatRequest): string {
    return JSON.stringify([model, req.system ?? null, req.temperature ?? null, req.input])
  }

  /** The cached answer, or undefined. */
  get(model: string, req: ChatRequest): ChatResult | undefined {
    return this.#lru.get(ChatCache.key(model, req))
  }

  /** Stores an answer. */
  set(model: string, req: ChatRequest, result: ChatResult): void {
    this.#lru.set(ChatCache.key(model, req), result)
  }

  /** Entries held. */
  get size(): number {
    return this.#lru.size
  }
}
