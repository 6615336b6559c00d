/** The root hook that keeps node-opcua's console output out of mocha's report (quiet-opcua.ts). */
import { strict as assert } from 'node:assert'
import { resolve } from 'node:path'
import { mock } from 'node:test'
import { opcuaDebug } from './opcua-debug.js'
import { startChild } from './resources.js'

const ROOT = resolve(import.meta.dirname, '../..')

describe('test support: node-opcua warnings during the test run', function () {
  this.timeout(60_000)

  it('a node-opcua warning or error writes nothing to the console', () => {
    const written: string[] = []
    const capture = (chunk: unknown): boolean => (written.push(String(chunk)), true)
    const out = mock.method(process.stdout, 'write', capture)
    const err = mock.method(process.stderr, 'write', capture)
    try {
      opcuaDebug.make_warningLog('probe')('a warning under test')
      opcuaDebug.make_errorLog('probe')('an error under test')
    } finally {
      out.mock.restore()
      err.mock.restore()
    }
    assert.deepEqual(written, [])
  })

  it('they are printed with a test that fails, and only with it (mocha run on a fixture, as npm test runs it)', async () => {
    const mocha = startChild(process.execPath, [resolve(ROOT, 'node_modules/mocha/bin/mocha.js'), 'test/fixtures/quiet-opcua/warns.ts'], { cwd: ROOT })
    const { code } = await mocha.exited()
    const output = mocha.output()
    assert.equal(code, 1, output)
    assert.match(output, /1 passing[\s\S]*1 failing/)
    assert.match(output, /node-opcua error .*probe-of-the-failing-test/)
    assert.doesNotMatch(output, /probe-of-the-passing-test/)
  })
})
