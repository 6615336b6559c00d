/**
 * What `tern edge` loads (DESIGN.md §8: a gateway's memory and start-up time). Every module a node
 * loads stays in its heap, source text included, so a node loads the code of what it serves and no
 * more: no schema builder (validators are compiled at build time, schemas/validated.ts) and no
 * validator of documents only another process reads, nor the error catalogue's descriptions (a node
 * throws and logs codes; their descriptions are documentation). Checked on the built command,
 * through the source maps of the bundle chunks the process actually loaded.
 */
import { strict as assert } from 'node:assert'
import { readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fanDevice, startCloudEdge, startCloudWorld } from '../support/cloud.js'
import { scratchWithDevices } from '../support/manifests.js'
import { FAN_MODEL } from '../support/modbus.js'
import { freePort, scratchDir, startChild } from '../support/resources.js'
import { startTernEdge, TERN_BIN } from '../support/tern.js'

/** Module hooks for the child process: every file it loads as an ES module, one line each on stderr. */
const HOOKS = `import { writeSync } from 'node:fs'
export async function load(url, context, next) {
  if (url.startsWith('file:')) writeSync(2, 'tern-test-loaded ' + url + '\\n')
  return next(url, context)
}`
const TRACE = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)})`)}`

/** The dist chunks a process loaded. */
function loadedChunks(output: string): string[] {
  const dist = dirname(TERN_BIN)
  const chunks = output
    .split('\n')
    .filter((l) => l.startsWith('tern-test-loaded '))
    .map((l) => fileURLToPath(l.slice('tern-test-loaded '.length)))
    .filter((path) => path.startsWith(`${resolve(dist, '..')}/`))
  assert.ok(chunks.includes(TERN_BIN), `the trace names the files tern loaded; it has: ${chunks.join(', ')}`)
  return chunks
}

/** The source files (paths as the source maps give them) bundled in the dist chunks a process loaded. */
async function loadedSources(output: string): Promise<string[]> {
  const chunks = loadedChunks(output)
  const sources = await Promise.all(chunks.map(async (chunk) => (JSON.parse(await readFile(`${chunk}.map`, 'utf8')) as { sources: string[] }).sources))
  return [...new Set(sources.flat())]
}

describe('cli: what tern edge loads', function () {
  this.timeout(60_000)
  const undo: Array<() => Promise<void>> = []
  let sources: string[]
  /** what a node with `http: false` loaded */
  let withoutHttp: string[]
  /** what a node started with no configuration file loaded: the embedded defaults */
  let onDefaults: string[]
  /** the text of the chunks that node loaded */
  let onDefaultsCode: string
  /** what a node linked to tern cloud, with no manifestsDir, loaded up to serving the device the cloud bound to it */
  let cloudLinked: string[]
  before(async () => {
    // a Modbus device on a port where nothing listens: the mapper and its driver load, the device stays offline
    const { dir, devices } = await scratchWithDevices(`${FAN_MODEL}---\n${fanDevice('fan-1', 'edge-1', await freePort(), '0')}`, undo)
    const node = await startTernEdge(
      dir,
      { node: { name: 'edge-1' }, twin: { manifestsDir: devices }, mqtt: { listeners: [{ port: 0 }] }, mappers: { enabled: ['modbus'] } },
      [],
      (command, args) => startChild(command, ['--import', TRACE, ...args]),
    )
    await node.stop()
    sources = await loadedSources(node.output())
    const { dir: quietDir } = await scratchWithDevices(`${FAN_MODEL}---\n${fanDevice('fan-1', 'edge-1', await freePort(), '0')}`, undo)
    const quiet = await startTernEdge(quietDir, { node: { name: 'edge-1' }, mqtt: { listeners: [{ port: 0 }] }, http: false }, [], (command, args) => startChild(command, ['--import', TRACE, ...args]))
    await quiet.stop()
    withoutHttp = await loadedSources(quiet.output())
    const scratch = await scratchDir()
    undo.push(() => scratch.remove())
    const bare = startChild(process.execPath, ['--import', TRACE, TERN_BIN, 'edge', '--data-dir', join(scratch.path, 'data'), '--mqtt-port', '0', '--http-listen', '127.0.0.1:0'])
    undo.push(() => bare.stop())
    await bare.waitForLine((l) => l.includes('"msg":"edge node ready"'))
    await bare.stop()
    onDefaults = await loadedSources(bare.output())
    onDefaultsCode = (await Promise.all(loadedChunks(bare.output()).map((chunk) => readFile(chunk, 'utf8')))).join('\n')
    const world = await startCloudWorld(undo)
    const applied = await world.kubectl.run(['apply', '-f', '-'], `${FAN_MODEL}---\n${fanDevice('fan-c', 'edge-c', await freePort(), '0')}`)
    assert.equal(applied.code, 0, applied.stderr)
    const linked = await startCloudEdge(world, 'edge-c', `wss://127.0.0.1:${world.cloud.hubPort}`, { spawn: (command, args) => startChild(command, ['--import', TRACE, ...args]) })
    await linked.waitForLine((l) => l.includes('fan-c') && l.includes('"part":"mapper"'), 30_000)
    await linked.stop()
    cloudLinked = await loadedSources(linked.output())
  })
  after(async () => {
    for (const step of undo.reverse()) await step()
  })

  it('loads no schema builder: TypeBox declares the schemas the build compiles, and is no part of a running node', () => {
    assert.deepEqual(
      sources.filter((s) => s.includes('node_modules/@sinclair/typebox/')),
      [],
    )
  })

  it('loads no error descriptions: TernError carries a code, the catalogue (schemas/errors.ts) is documentation', () => {
    for (const loaded of [sources, withoutHttp, onDefaults]) {
      assert.ok(loaded.some((s) => s.endsWith('schemas/tern-error.ts')), `a node throws TernErrors: ${loaded.filter((s) => s.includes('schemas/')).join(', ')}`)
      assert.deepEqual(
        loaded.filter((s) => s.endsWith('schemas/errors.ts')),
        [],
      )
    }
  })

  it('loads no help text: it is printed only by `tern help`, `--help` and usage errors (cli/help.ts)', () => {
    assert.deepEqual(
      [...sources, ...onDefaults].filter((s) => s.endsWith('cli/help.ts')),
      [],
    )
    // nor in another module: a line of another command's help
    assert.ok(!onDefaultsCode.includes('print a password hash for mqtt.users'), 'tern passwd’s help is in a chunk tern edge loaded')
  })

  it('on the embedded defaults (no configuration file, no manifestsDir) loads no YAML parser, and no manifest reader or its Device and DeviceModel validators', () => {
    assert.ok(sources.some((s) => s.endsWith('schemas/generated/validators/Device.js')), 'a node with manifestsDir validates its manifests')
    assert.deepEqual(
      onDefaults.filter((s) => s.includes('node_modules/yaml/') || /twin\/manifest|validators\/(Device|DeviceModel)\.js$/.test(s)),
      [],
    )
    assert.deepEqual(
      withoutHttp.filter((s) => /twin\/manifest|validators\/(Device|DeviceModel)\.js$/.test(s)),
      [],
    )
  })

  it('linked to tern cloud with no manifestsDir, loads no manifest reader: the cloud link resolves its devices without it', () => {
    assert.ok(cloudLinked.some((s) => s.endsWith('twin/device-set.ts')), 'the node resolved the devices the cloud sent')
    // The YAML parser is loaded all the same, to read the configuration file a cloud link is set in (cli/config.ts).
    assert.deepEqual(
      cloudLinked.filter((s) => /twin\/manifest/.test(s)),
      [],
    )
  })

  it('linked to tern cloud, loads the validators of the cloud link one module each: none of the cloud configuration, the web view or protocols it does not run', () => {
    assert.ok(cloudLinked.some((s) => s.endsWith('schemas/generated/validators/NodeDeviceSet.js')), 'the node validated its resync')
    assert.deepEqual(
      cloudLinked.filter((s) => s.endsWith('schemas/generated/validators.js') || /\/(CloudConfig|WebLogin|WebSetExpected|Bluetooth\w+|Opcua\w+)\.js$/.test(s)),
      [],
    )
  })

  it("loads nothing of pino's transports, which it never uses (scripts/no-pino-transport.ts)", () => {
    for (const loaded of [sources, withoutHttp, onDefaults, cloudLinked]) {
      assert.ok(loaded.some((s) => s.includes('node_modules/pino/')), 'every node logs through pino')
      assert.deepEqual(
        loaded.filter((s) => s.includes('node_modules/thread-stream/')),
        [],
      )
    }
  })

  it('loads nothing of the web view while http.ui is off (the default)', () => {
    assert.deepEqual(
      sources.filter((s) => !s.includes('node_modules/') && /(^|\/)web\//.test(s)),
      [],
    )
  })

  it('loads of prom-client only the registry and its metric types, and with http: false nothing of it or of the metrics', () => {
    const prom = sources.filter((s) => s.includes('node_modules/prom-client/'))
    assert.ok(prom.some((s) => s.endsWith('prom-client/lib/registry.js')), `the metrics listener is on by default: ${prom.join(', ')}`)
    assert.deepEqual(
      prom.filter((s) => /prom-client\/(index\.js|lib\/(cluster|pushgateway|defaultMetrics|summary)\.js)/.test(s)),
      [],
    )
    assert.deepEqual(
      withoutHttp.filter((s) => s.includes('node_modules/prom-client/') || /(^|\/)metrics\//.test(s)),
      [],
    )
  })

  it('loads the validators of the documents it reads, one module each, and none of those only the cloud side reads', () => {
    const validators = sources.filter((s) => s.includes('schemas/generated/validators'))
    assert.ok(validators.some((s) => s.endsWith('schemas/generated/validators/EdgeConfig.js')), `the edge config is validated: ${validators.join(', ')}`)
    assert.deepEqual(
      validators.filter((s) => s.endsWith('schemas/generated/validators.js') || /\/(CloudConfig|Envelope|NodeDeviceSet|NodeObject|SecretObject|IssuedCertificate|RenewRequest|TwinReport)\.js$/.test(s)),
      [],
    )
  })
})
