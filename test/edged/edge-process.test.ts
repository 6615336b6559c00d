/**
 * `tern edge` (the built binary) with and without the `edged:` section: a device-only gateway
 * loads nothing of edged or gRPC (modules recorded by a loader hook); a node whose containerd is
 * missing reports EDGED_RUNTIME_UNAVAILABLE once and keeps serving its devices.
 */
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { clientPool } from '../support/mqtt.js'
import { counterManifests, scratchWithDevices } from '../support/manifests.js'
import { startChild } from '../support/resources.js'
import { startTernEdge, type Spawner } from '../support/tern.js'

/** A spawner whose node records every module it loads into `file` (an ES module loader hook). */
async function recordingModules(dir: string, file: string): Promise<Spawner> {
  await writeFile(
    join(dir, 'hooks.mjs'),
    "import { appendFileSync } from 'node:fs'\nlet file\nexport function initialize(data) { file = data.file }\nexport async function load(url, context, next) { appendFileSync(file, url + '\\n'); return next(url, context) }\n",
  )
  await writeFile(join(dir, 'register.mjs'), `import { register } from 'node:module'\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)}, { data: { file: ${JSON.stringify(file)} } })\n`)
  await writeFile(file, '')
  return (command, args) => startChild(command, args, { env: { ...process.env, NODE_OPTIONS: `--import=${pathToFileURL(join(dir, 'register.mjs')).href}` } })
}

describe('tern edge with and without edged', function () {
  this.timeout(90_000)
  const undo: Array<() => Promise<void>> = []
  const pool = clientPool()
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  it('without an edged: section nothing of edged or gRPC is loaded; with it (containerd missing) gRPC is, EDGED_RUNTIME_UNAVAILABLE is logged once and devices are served', async () => {
    const { dir, devices } = await scratchWithDevices(counterManifests(['c-1']), undo)
    const without = join(dir, 'modules-without.txt')
    const node1 = await startTernEdge(dir, { mqtt: { listeners: [{ port: 0 }] }, twin: { manifestsDir: devices } }, [], await recordingModules(dir, without))
    await node1.stop()
    const loaded1 = await readFile(without, 'utf8')
    assert.match(loaded1, /dist\/cli\/tern\.js/, 'the hook saw the entry module')
    assert.doesNotMatch(loaded1, /@grpc/)

    const withEdged = join(dir, 'modules-with.txt')
    const node = await startTernEdge(
      dir,
      { mqtt: { listeners: [{ port: 0 }] }, twin: { manifestsDir: devices }, edged: { runtimeEndpoint: `unix://${join(dir, 'no-containerd.sock')}`, podManifestsDir: join(dir, 'pods') } },
      [],
      await recordingModules(dir, withEdged),
    )
    undo.push(() => node.stop())
    const loaded2 = await readFile(withEdged, 'utf8')
    assert.match(loaded2, /@grpc\/grpc-js/)
    const chunks = (text: string): Set<string> => new Set(text.split('\n').filter((l) => l.includes('/dist/cli/chunks/')))
    const extra = [...chunks(loaded2)].filter((c) => !chunks(loaded1).has(c))
    assert.ok(extra.length > 0, 'edged code comes in chunks of its own')

    await node.waitForLine((l) => l.includes('EDGED_RUNTIME_UNAVAILABLE'), 20_000)
    const port = node.listeners[0]!.port
    const { client, inbox } = await pool.connect(`mqtt://127.0.0.1:${port}`)
    await client.subscribeAsync('$hw/events/device/c-1/twin/update/result', { qos: 1 })
    await client.publishAsync('$hw/events/device/c-1/twin/update', '{"event_id":"e1","twin":{"counter":{"actual":{"value":"5"}}}}', { qos: 1 })
    const result = await inbox.waitFor((m) => m.payload.includes('"e1"'), 'the twin update result', 20_000)
    assert.equal((JSON.parse(result.payload) as { code?: number }).code, undefined, result.payload)
    // retried with back-off, reported once (not once per retry)
    await new Promise((r) => setTimeout(r, 3500))
    assert.equal(node.output().split('\n').filter((l) => l.includes('EDGED_RUNTIME_UNAVAILABLE')).length, 1, node.output())
    assert.equal(node.process.exitCode, null)
  })
})
