/**
 * Problems a validator reports for a value that matches no branch of an anyOf: the errors of the
 * branch with the value's shape only, or one line naming what the value may be.
 */
import { strict as assert } from 'node:assert'
import { edgeConfigResult } from '../../cli/config.js'

function problems(doc: unknown): string[] {
  const result = edgeConfigResult(doc, 'test.yaml')
  assert.ok(!result.ok, 'invalid')
  return result.error.details as string[]
}

describe('schema problems under anyOf', () => {
  it('an object where false or an object may be: only the object’s own problems', () => {
    assert.deepEqual(problems({ http: { listen: '127.0.0.1:9100', maxConnections: -1 } }), ['/http/maxConnections: must be >= 0'])
  })

  it('a value of no branch’s shape: one line naming each branch (its constant where it has one)', () => {
    assert.deepEqual(problems({ http: 5 }), ['/http: must be false, or an object'])
  })

  it('problems outside the anyOf are kept as they are', () => {
    assert.deepEqual(problems({ http: 'yes', mqtt: { nope: 1 } }).sort(), ['/http: must be false, or an object', '/mqtt/nope: unknown key'])
  })
})
