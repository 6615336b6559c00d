/**
 * IEEE 11073-20601 §F.8 medical floats as the GATT measurement characteristics carry them
 * (Health Thermometer 0x2A1C, Blood Pressure 0x2A35, Weight 0x2A9D; GATT Specification Supplement
 * §2.2): SFLOAT is a 4-bit signed exponent over a 12-bit signed mantissa, FLOAT an 8-bit exponent
 * over a 24-bit mantissa, value = mantissa × 10^exponent; a few mantissas are special values.
 * Pure functions of the raw word (the caller reads it little-endian).
 */

export type Medical = { kind: 'number'; value: number } | { kind: 'special'; name: 'NaN' | 'NRes' | '+INF' | '-INF' | 'reserved' }

const SFLOAT_SPECIAL: Readonly<Record<number, Medical>> = {
  0x07ff: { kind: 'special', name: 'NaN' },
  0x0800: { kind: 'special', name: 'NRes' },
  0x07fe: { kind: 'special', name: '+INF' },
  0x0802: { kind: 'special', name: '-INF' },
  0x0801: { kind: 'special', name: 'reserved' },
}
const FLOAT_SPECIAL: Readonly<Record<number, Medical>> = {
  0x7fffff: { kind: 'special', name: 'NaN' },
  0x800000: { kind: 'special', name: 'NRes' },
  0x7ffffe: { kind: 'special', name: '+INF' },
  0x800002: { kind: 'special', name: '-INF' },
  0x800001: { kind: 'special', name: 'reserved' },
}

/** mantissa × 10^exponent without binary noise for negative exponents (364 × 10^-1 = 36.4, not 36.400000000000006) */
function scaled(mantissa: number, exponent: number): number {
  return exponent < 0 ? mantissa / 10 ** -exponent : mantissa * 10 ** exponent
}

export function decodeSfloat(raw: number): Medical {
  const mantissaBits = raw & 0x0fff
  const special = SFLOAT_SPECIAL[mantissaBits]
  if (special !== undefined) return special
  const mantissa = mantissaBits >= 0x0800 ? mantissaBits - 0x1000 : mantissaBits
  const exponentBits = (raw >> 12) & 0x0f
  const exponent = exponentBits >= 0x08 ? exponentBits - 0x10 : exponentBits
  return { kind: 'number', value: scaled(mantissa, exponent) }
}

export function decodeFloat11073(raw: number): Medical {
  const mantissaBits = raw & 0xffffff
  const special = FLOAT_SPECIAL[mantissaBits]
  if (special !== undefined) return special
  const mantissa = mantissaBits >= 0x800000 ? mantissaBits - 0x1000000 : mantissaBits
  const exponent = (raw >>> 24) >= 0x80 ? (raw >>> 24) - 0x100 : raw >>> 24
  return { kind: 'number', value: scaled(mantissa, exponent) }
}

/**
 * The raw word for `value`: the largest exponent that holds it exactly (36.4 → 364 × 10^-1, as the
 * published frames write it), else the finest exponent whose mantissa fits, rounded there.
 */
function encodeMedical(value: number, exponentBits: number, mantissaBits: number, maxMantissa: number): number | undefined {
  const minExp = -(1 << (exponentBits - 1))
  const maxExp = (1 << (exponentBits - 1)) - 1
  const word = (m: number, e: number): number => {
    const mant = m < 0 ? m + (1 << mantissaBits) : m
    const exp = e < 0 ? e + (1 << exponentBits) : e
    return (exp * (1 << mantissaBits) + mant) >>> 0
  }
  const mantissa = (e: number): number => Math.round(e < 0 ? value * 10 ** -e : value / 10 ** e)
  for (let e = maxExp; e >= minExp; e--) {
    const m = mantissa(e)
    if (Math.abs(m) <= maxMantissa && scaled(m, e) === value) return word(m, e)
  }
  for (let e = minExp; e <= maxExp; e++) {
    const m = mantissa(e)
    if (Math.abs(m) <= maxMantissa) return word(m, e)
  }
  return undefined
}

/** SFLOAT for a finite value; mantissas ±2046..2048 are reserved for special values. */
export function encodeSfloat(value: number): number | undefined {
  return Number.isFinite(value) ? encodeMedical(value, 4, 12, 2045) : undefined
}

export function encodeFloat11073(value: number): number | undefined {
  return Number.isFinite(value) ? encodeMedical(value, 8, 24, 0x7ffffd) : undefined
}
