/**
 * `isJsonText(text)`: whether `text` is one JSON document (RFC 8259), decided by one linear scan
 * that builds no value and never recurses.
 *
 * Why: JSON text stored by highperf is spliced into answers as it is (a job's input, see
 * src/jobs/view.ts), never parsed again. Text that came from `JSON.stringify` is JSON by
 * construction, but a stored input may also have come from a direct caller of the job runner,
 * and splicing text that is not JSON would make the whole answer (a list of jobs) unreadable.
 * `JSON.parse` would answer the question too, at the price the splice avoids: building every value,
 * and a walk whose depth is the text's nesting. This scan costs about what the depth scan of
 * src/json/depth.ts costs, and its nesting is a counter.
 *
 * @example
 * ```ts
 * isJsonText('{"a":[1,2.5e3,true,null,"x"]}') // true
 * isJsonText('{"a":1,}')                       // false
 * isJsonText('['.repeat(1e5) + ']'.repeat(1e5)) // true, no stack used
 * ```
 */

const SPACE = 32
const TAB = 9
const LF = 10
const CR = 13
const QUOTE = 34
const BACKSLASH = 92
const COMMA = 44
const COLON = 58
const MINUS = 45
const PLUS = 43
const DOT = 46
const ZERO = 48
const NINE = 57
const LBRACKET = 91
const RBRACKET = 93
const LBRACE = 123
const RBRACE = 125

// What the scanner expects next.
const VALUE = 0 // a value
const VALUE_OR_END = 1 // a value or ']' (just after '[')
const KEY = 2 // a key (after ',' in an object)
const KEY_OR_END = 3 // a key or '}' (just after '{')
const COLON_NEXT = 4 // ':' after a key
const AFTER = 5 // ',' or a closing bracket, or the end at depth 0

const isDigit = (c: number): boolean => c >= ZERO && c <= NINE
const isHex = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)

/** Index just past the string starting at `i` (a quote), or -1 when it is not a valid string. */
function skipString(text: string, i: number): number {
  const n = text.length
  for (let j = i + 1; j < n;) {
    const c = text.charCodeAt(j)
    if (c === QUOTE) return j + 1
    if (c < SPACE) return -1 // raw control characters must be escaped
    if (c !== BACKSLASH) {
      j++
      continue
    }
    const e = text.charCodeAt(j + 1)
    if (e === 117 /* u */) {
      for (let k = j + 2; k < j + 6; k++) if (!isHex(text.charCodeAt(k))) return -1
      j += 6
    } else if (e === QUOTE || e === BACKSLASH || e === 47 /* / */ || e === 98 || e === 102 || e === 110 || e === 114 || e === 116 /* b f n r t */) {
      j += 2
    } else {
      return -1
    }
  }
  return -1
}

/** Index just past the number starting at `i`, or -1 when it is not a valid JSON number. */
function skipNumber(text: string, i: number): number {
  let j = i
  if (text.charCodeAt(j) === MINUS) j++
  const first = text.charCodeAt(j)
  if (first === ZERO) j++
  else if (isDigit(first)) while (isDigit(text.charCodeAt(j))) j++
  else return -1
  if (text.charCodeAt(j) === DOT) {
    j++
    if (!isDigit(text.charCodeAt(j))) return -1
    while (isDigit(text.charCodeAt(j))) j++
  }
  const e = text.charCodeAt(j)
  if (e === 101 || e === 69 /* e E */) {
    j++
    const sign = text.charCodeAt(j)
    if (sign === PLUS || sign === MINUS) j++
    if (!isDigit(text.charCodeAt(j))) return -1
    while (isDigit(text.charCodeAt(j))) j++
  }
  return j
}

/**
 * True when `text` is exactly one JSON value, with optional whitespace around it.
 *
 * @example isJsonText(' [1, "two"] ') // true; isJsonText("{'a':1}") // false
 */
export function isJsonText(text: string): boolean {
  const n = text.length
  // Open containers, innermost last: true for an object, false for an array.
  const open: boolean[] = []
  let expect = VALUE
  let i = 0
  for (;;) {
    let c = text.charCodeAt(i)
    while (c === SPACE || c === LF || c === CR || c === TAB) c = text.charCodeAt(++i)
    if (i >= n) return expect === AFTER && open.length === 0
    // Just inside a bracket, the bracket's own end may come instead of a value or key.
    if (expect === VALUE_OR_END || expect === KEY_OR_END) {
      if (c === (expect === KEY_OR_END ? RBRACE : RBRACKET)) {
        open.pop()
        expect = AFTER
        i++
        continue
      }
      expect = expect === KEY_OR_END ? KEY : VALUE
    }
    switch (expect) {
      case VALUE:
        if (c === LBRACE) {
          open.push(true)
          expect = KEY_OR_END
          i++
        } else if (c === LBRACKET) {
          open.push(false)
          expect = VALUE_OR_END
          i++
        } else {
          if (c === QUOTE) i = skipString(text, i)
          else if (c === MINUS || isDigit(c)) i = skipNumber(text, i)
          else if (text.startsWith('true', i)) i += 4
          else if (text.startsWith('false', i)) i += 5
          else if (text.startsWith('null', i)) i += 4
          else return false
          if (i < 0) return false
          expect = AFTER
        }
        break
      case KEY:
        if (c !== QUOTE) return false
        i = skipString(text, i)
        if (i < 0) return false
        expect = COLON_NEXT
        break
      case COLON_NEXT:
        if (c !== COLON) return false
        expect = VALUE
        i++
        break
      default: { // AFTER
        const depth = open.length
        if (depth === 0) return false // something after the document
        const inObject = open[depth - 1]!
        if (c === COMMA) expect = inObject ? KEY : VALUE
        else if (c === (inObject ? RBRACE : RBRACKET)) open.pop()
        else return false
        i++
      }
    }
  }
}
