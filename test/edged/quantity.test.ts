/**
 * Kubernetes resource quantities as apimachinery reads them (resource.Quantity Value/MilliValue
 * round away from zero; suffixes n u m k M G T P E, Ki..Ei, e-notation).
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { compareQuantities, isQuantity, quantityMilli, quantityValue } from '../../edged/pod/quantity.js'

describe('edged resource quantities', () => {
  it('cpu as millicores: the forms the Kubernetes docs use', () => {
    const table: Array<[string | number, bigint]> = [
      ['500m', 500n],
      ['0.5', 500n],
      [0.5, 500n],
      ['1', 1000n],
      [2, 2000n],
      ['1.5', 1500n],
      ['.1', 100n],
      ['100u', 1n], // MilliValue rounds up: 0.1 millicore is 1
      ['1e-3', 1n],
      ['2e3', 2_000_000n],
      ['0', 0n],
    ]
    for (const [q, milli] of table) assert.equal(quantityMilli(q), milli, String(q))
  })

  it('memory as bytes: binary and decimal suffixes, rounding up', () => {
    const table: Array<[string | number, bigint]> = [
      ['128Mi', 134_217_728n],
      ['1Gi', 1_073_741_824n],
      ['1G', 1_000_000_000n],
      ['64M', 64_000_000n],
      ['1.5Ki', 1536n],
      ['0.5Ki', 512n],
      ['1k', 1000n],
      ['129e6', 129_000_000n],
      ['1.5', 2n],
      ['1Ei', 1_152_921_504_606_846_976n],
      [1048576, 1_048_576n],
    ]
    for (const [q, bytes] of table) assert.equal(quantityValue(q), bytes, String(q))
  })

  it('refuses what is not a quantity', () => {
    for (const q of ['', 'abc', '1Mb', '1 Gi', '1KiB', '--1', '1.2.3', 'Mi', '1ki', Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(isQuantity(q), false, String(q))
    assert.throws(() => quantityValue('1Mb'))
  })

  it('compares exactly across suffixes (1Gi > 1G, 1000m = 1, 1024Ki = 1Mi)', () => {
    assert.equal(compareQuantities('1Gi', '1G'), 1)
    assert.equal(compareQuantities('1000m', '1'), 0)
    assert.equal(compareQuantities('1024Ki', '1Mi'), 0)
    assert.equal(compareQuantities('250m', '0.3'), -1)
    assert.equal(compareQuantities('1n', 0), 1)
  })

  it('property: an integer with an Mi suffix is that many MiB, and milli of n is 1000 n', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), (n) => {
        assert.equal(quantityValue(`${n}Mi`), BigInt(n) * 1_048_576n)
        assert.equal(quantityMilli(String(n)), BigInt(n) * 1000n)
        assert.equal(quantityMilli(`${n}m`), BigInt(n))
      }),
    )
  })
})
