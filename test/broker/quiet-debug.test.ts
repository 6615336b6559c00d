/**
 * broker/quiet-debug.ts in the built `tern edge` (dist/): the bundle carries mqtt-packet but leaves
 * `debug` to node_modules, so the replacement only works if it lands on the path the bundle's
 * mqtt-packet loads. test/deps/patch-pins.test.ts checks this on the sources; here, a probe loaded
 * into the real process (`node --require`) reports at exit which `debug` the process holds.
 * Without DEBUG the real module is never loaded, only the replacement; with DEBUG set, nothing
 * is replaced and mqtt-packet's debug lines appear (which also shows that the bundle reaches
 * `debug` through that path at all, so the first case cannot pass by not loading it).
 */
import { strict as assert } from 'node:assert'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { clientPool } from '../support/mqtt.js'
import { scratchDir, startChild } from '../support/resources.js'
import { TERN_BIN, startTernEdge } from '../support/tern.js'

/** Written by the probe at exit: the `debug` files in require's cache, and whether the entry is the replacement. */
interface Report {
  debugFiles: string[]
  replaced: boolean
}

const PROBE = `
const { createRequire } = require('node:module')
const { writeFileSync } = require('node:fs')
process.on('exit', () => {
  // the \`debug\` the bundle loads: resolved from the built command's own folder
  const index = createRequire(${JSON.stringify(TERN_BIN)}).resolve('debug')
  const dir = index.slice(0, index.lastIndexOf('/') + 1)
  const entry = require.cache[index]
  writeFileSync(process.env.TERN_TEST_PROBE_OUT, JSON.stringify({
    debugFiles: Object.keys(require.cache).filter((k) => k.startsWith(dir)).map((k) => k.slice(dir.length)),
    // debug's own humanize (the ms package) says '2s'; the replacement '1500ms'
    replaced: entry !== undefined && entry.exports.humanize(1500) === '1500ms',
  }))
})
`

describe('broker/quiet-debug in the built tern edge (dist/)', function () {
  this.timeout(60_000)
  const pool = clientPool()

  /** Runs `tern edge` with the probe, passes one message through the broker, stops it; the probe's report and the output. */
  async function run(debug: string | undefined): Promise<{ report: Report; output: string }> {
    const scratch = await scratchDir()
    try {
      const probe = join(scratch.path, 'probe.cjs')
      const out = join(scratch.path, 'report.json')
      await writeFile(probe, PROBE)
      const env: NodeJS.ProcessEnv = { ...process.env, TERN_TEST_PROBE_OUT: out }
      if (debug === undefined) delete env.DEBUG
      else env.DEBUG = debug
      const node = await startTernEdge(scratch.path, { node: { name: 'edge-1' }, mqtt: { listeners: [{ port: 0 }] } }, [], (command, args) =>
        startChild(command, ['--require', probe, ...args], { env }),
      )
      try {
        const client = await pool.connect(`mqtt://127.0.0.1:${node.listeners[0]?.port}`)
        await client.client.subscribeAsync('probe/#', { qos: 1 })
        await client.client.publishAsync('probe/x', 'through mqtt-packet both ways', { qos: 1 })
        await client.inbox.waitFor((m) => m.topic === 'probe/x', 'the message back', 15_000)
        await client.client.endAsync()
      } finally {
        await node.stop()
      }
      return { report: JSON.parse(await readFile(out, 'utf8')) as Report, output: node.output() }
    } finally {
      await scratch.remove()
    }
  }

  it('without DEBUG, the process holds only the replacement: the real `debug` is never loaded', async () => {
    const { report, output } = await run(undefined)
    assert.deepEqual(report, { debugFiles: ['index.js'], replaced: true })
    assert.doesNotMatch(output, /mqtt-packet/)
  })

  it('with DEBUG=mqtt-packet:*, nothing is replaced: the real `debug` prints the parser and writer lines', async () => {
    const { report, output } = await run('mqtt-packet:*')
    assert.equal(report.replaced, false)
    assert.ok(report.debugFiles.includes('node.js'), JSON.stringify(report))
    assert.match(output, /mqtt-packet:parser/)
    assert.match(output, /mqtt-packet:writeToStream/)
  })
})
