/**
 * Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity): a decimal number with
 * an optional SI suffix (n u m k M G T P E), binary suffix (Ki Mi Gi Ti Pi Ei) or decimal exponent
 * (e3, E-2). Exact integer arithmetic (BigInt), and the apimachinery rounding: a value asked for
 * at a scale is rounded up (`Value()` and `MilliValue()` both round away from zero), so `0.1m` of
 * cpu is 1 millicore and `1.5` bytes of memory is 2.
 */

const QUANTITY = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:([eE][+-]?[0-9]+)|([numkMGTPE])|([KMGTPE]i))?$/
const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 }
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 }

/** value = digits × 10^exp10 × 2^exp2 (sign in digits). */
interface Parsed {
  digits: bigint
  exp10: number
  exp2: number
}

/** The quantity parsed, or undefined when the text is not one. */
function parse(q: string | number): Parsed | undefined {
  const text = typeof q === 'number' ? numberText(q) : q
  if (text === undefined) return undefined
  const m = QUANTITY.exec(text)
  if (m === null) return undefined
  const [, sign = '', number = '', exponent, decimal, binary] = m
  const [whole = '', fraction = ''] = number.split('.')
  const digits = BigInt(`${sign}${whole}${fraction}`)
  let exp10 = -fraction.length
  let exp2 = 0
  if (exponent !== undefined) exp10 += Number(exponent.slice(1))
  if (decimal !== undefined) exp10 += DECIMAL_SUFFIX[decimal] ?? 0
  if (binary !== undefined) exp2 += BINARY_SUFFIX[binary] ?? 0
  return { digits, exp10, exp2 }
}

/** A YAML number (`cpu: 0.5`) as quantity text; NaN and infinities are not quantities. */
function numberText(n: number): string | undefined {
  return Number.isFinite(n) ? String(n) : undefined
}

/** Integer division rounding away from zero, as apimachinery's scaling does. */
function divAway(n: bigint, d: bigint): bigint {
  const q = n / d
  return q * d === n ? q : n < 0n ? q - 1n : q + 1n
}

/** The quantity × 10^scale as an integer, rounded away from zero. */
function scaled(p: Parsed, scale: number): bigint {
  const num = p.digits * 2n ** BigInt(p.exp2)
  const e = p.exp10 + scale
  if (e >= 0) return num * 10n ** BigInt(e)
  return divAway(num, 10n ** BigInt(-e))
}

export function isQuantity(q: unknown): boolean {
  return (typeof q === 'string' || typeof q === 'number') && parse(q) !== undefined
}

/** `Value()`: the quantity as a whole number (bytes for memory), rounded up. Throws on text that is not a quantity. */
export function quantityValue(q: string | number): bigint {
  return scaled(must(q), 0)
}

/** `MilliValue()`: thousandths (millicores for cpu), rounded up. */
export function quantityMilli(q: string | number): bigint {
  return scaled(must(q), 3)
}

/** Compares two quantities exactly: negative, 0 or positive. */
export function compareQuantities(a: string | number, b: string | number): number {
  // A common scale where both are integers: 2^-k never arises (binary suffixes are positive), so 10^max(-exp10) suffices.
  const pa = must(a)
  const pb = must(b)
  const scale = Math.max(0, -pa.exp10, -pb.exp10)
  const va = scaled(pa, scale)
  const vb = scaled(pb, scale)
  return va < vb ? -1 : va > vb ? 1 : 0
}

export function isNegativeQuantity(q: string | number): boolean {
  return must(q).digits < 0n
}

function must(q: string | number): Parsed {
  const p = parse(q)
  if (p === undefined) throw new Error(`not a resource quantity: ${JSON.stringify(q)}`)
  return p
}
