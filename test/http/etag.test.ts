import { describe, expect, test } from 'bun:test'
import { etagOf, ifNoneMatch, jsonWithEtag } from '../../src/http/etag.ts'

const TAG = etagOf('{"id":1}')
const OPAQUE = TAG.slice(2) // the quoted part, without W/

describe('etagOf', () => {
  test('is a weak tag of 16 hex digits, the same for the same bytes and different for others', () => {
    expect(TAG).toMatch(/^W\/"[0-9a-f]{16}"$/)
    expect(etagOf('{"id":1}')).toBe(TAG)
    expect(etagOf('{"id":2}')).not.toBe(TAG)
    // One character anywhere changes it (a job's progress 50 → 51).
    expect(etagOf('{"progress":50}')).not.toBe(etagOf('{"progress":51}'))
  })
})

describe('ifNoneMatch (RFC 9110 weak comparison)', () => {
  test.each([
    ['the tag itself', TAG],
    ['the tag without W/ (weak comparison ignores weakness)', OPAQUE],
    ['a list holding it', `"nope", ${TAG}, "other"`],
    ['a list without spaces', `"nope",${OPAQUE}`],
    ['a list with tabs and empty members', `\t, ,"a",\t${TAG} ,`],
    ['a list whose earlier tag holds a comma', `"a,b", ${TAG}`],
    ['a list after a member that is not a tag', `garbage, ${TAG}`],
    ['*', '*'],
    ['* with spaces', '  * '],
  ])('matches %s', (_what, header) => {
    expect(ifNoneMatch(header, TAG)).toBe(true)
  })

  test.each([
    ['an absent header', null],
    ['an empty header', ''],
    ['another tag', '"0000000000000000"'],
    ['the opaque part unquoted', OPAQUE.slice(1, -1)],
    ['a tag that only starts like it', `${OPAQUE.slice(0, -1)}x"`],
    ['an unterminated tag', OPAQUE.slice(0, -1)],
    ['a lower-case w/ prefix (the prefix is case-sensitive)', `w/${OPAQUE}`],
    ['the tag inside a longer quoted tag', `"x${OPAQUE.slice(1)}`],
    ['a comma-split piece of a quoted tag', `"a, ${OPAQUE.slice(1, -1)}, b"`],
  ])('does not match %s', (_what, header) => {
    expect(ifNoneMatch(header, TAG)).toBe(false)
  })

  test('a header of 100 000 commas or quotes is scanned in linear time', () => {
    const started = performance.now()
    for (const h of [','.repeat(100_000), '"'.repeat(100_000), 'W/'.repeat(50_000), 'x,'.repeat(50_000)]) expect(ifNoneMatch(h, TAG)).toBe(false)
    // Generous: a quadratic scan of these takes seconds.
    expect(performance.now() - started).toBeLessThan(500)
  })
})

describe('jsonWithEtag', () => {
  const req = (method: string, inm?: string) => new Request('http://x/r', { method, headers: inm === undefined ? {} : { 'if-none-match': inm } })

  test('200 with the JSON, its ETag and Cache-Control: no-cache', async () => {
    const res = jsonWithEtag(req('GET'), '{"id":1}', { headers: { location: '/r' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('etag')).toBe(TAG)
    expect(res.headers.get('cache-control')).toBe('no-cache')
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(res.headers.get('location')).toBe('/r')
    expect(await res.text()).toBe('{"id":1}')
  })

  test('GET and HEAD with a matching If-None-Match get a bodiless 304 carrying the tag', async () => {
    for (const method of ['GET', 'HEAD']) {
      const res = jsonWithEtag(req(method, TAG), '{"id":1}')
      expect(res.status).toBe(304)
      expect(res.headers.get('etag')).toBe(TAG)
      expect(res.headers.get('cache-control')).toBe('no-cache')
      expect(await res.text()).toBe('')
    }
  })

  test('other methods ignore If-None-Match (the condition applies to GET and HEAD only)', () => {
    expect(jsonWithEtag(req('PATCH', '*'), '{"id":1}').status).toBe(200)
  })
})
