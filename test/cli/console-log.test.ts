/** Console output of libraries (node-opcua prints its warnings with console.log, in colour) becomes JSON log lines. */
import { strict as assert } from 'node:assert'
import { PassThrough } from 'node:stream'
import { pino } from 'pino'
import { routeConsoleToLog } from '../../cli/console-log.js'

describe('cli: console output goes through the logger', () => {
  const saved = { ...console }
  afterEach(() => Object.assign(console, saved))

  it('each console method becomes one JSON line at its level, part console, colours stripped', () => {
    const out = new PassThrough()
    const lines: string[] = []
    out.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter((l) => l !== '')))
    routeConsoleToLog(pino({ level: 'debug', base: null, timestamp: false }, out))
    console.log('\x1b[33m[NODE-OPCUA-W05]\x1b[0m certificate %s will expire', 'own')
    console.warn('careful')
    console.error(new Error('boom').message)
    console.debug('detail')
    console.log('')
    assert.deepEqual(
      lines.map((l) => JSON.parse(l) as unknown),
      [
        { level: 30, part: 'console', msg: '[NODE-OPCUA-W05] certificate own will expire' },
        { level: 40, part: 'console', msg: 'careful' },
        { level: 50, part: 'console', msg: 'boom' },
        { level: 20, part: 'console', msg: 'detail' },
      ],
    )
  })
})
