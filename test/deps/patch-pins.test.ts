/**
 * tern patches a few dependencies' internals where profiling or the MQTT specification demanded it
 * (broker/hot-path.ts, broker/conformance.ts, broker/quiet-debug.ts, broker/outgoing.ts,
 * broker/packet-size.ts, broker/publish-order.ts, broker/retained-writes.ts, the twin store's batch). Each
 * patch feature-detects what it relies on and otherwise leaves the dependency alone, which is safe
 * but silent: an upgrade could make the broker slower, or less conformant, without a word. So each
 * is pinned here to the exact versions it was written for, and what it relies on is probed on the
 * real dependency. An upgrade fails this test, naming the patch: read what the patch relies on in
 * the new version, then move the pin (and package.json's exact version).
 */
import { strict as assert } from 'node:assert'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { promisify } from 'node:util'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Aedes } from 'aedes'
import { MemoryLevel } from 'memory-level'
import mqemitter from 'mqemitter'
import mqttPacket from 'mqtt-packet'
import { memoizeMatches, readListDirectly } from '../../broker/hot-path.js'

const ROOT = resolve(import.meta.dirname, '../..')
const require = createRequire(join(ROOT, 'package.json'))

/** The version of `name` that the bundle takes (resolved as the sources resolve it). */
function installed(name: string, from = ROOT): string {
  const main = require.resolve(name, { paths: [from] })
  for (let dir = dirname(main); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === name) return pkg.version ?? '?'
    } catch {
      // no package.json at this level
    }
  }
  return '?'
}

interface Pin {
  patch: string
  relies: string
  versions: Record<string, string>
  /** resolved from this package's folder (a dependency of a dependency) */
  from?: string
}

const PINS: Pin[] = [
  { patch: 'coalesceWrites (broker/hot-path.ts)', relies: "mqtt-packet writing a PUBLISH in pieces through aedes' socket writes", versions: { aedes: '1.2.0', 'mqtt-packet': '9.0.2' } },
  { patch: 'readListDirectly / parseDirectly (broker/hot-path.ts)', relies: "bl 6's _bufs list and mqtt-packet's client._parser._list", versions: { 'mqtt-packet': '9.0.2', bl: '6.1.6', aedes: '1.2.0' } },
  { patch: 'memoizeMatches (broker/hot-path.ts)', relies: "mqemitter 7's _matcher, a qlobber trie with match/add/remove/clear", versions: { mqemitter: '7.1.0', qlobber: '8.0.1' } },
  { patch: 'skipCleanSessionAcks (broker/hot-path.ts)', relies: 'aedes-persistence-level outgoingClearMessageId, and aedes storing nothing for clean sessions', versions: { 'aedes-persistence-level': '9.2.0', aedes: '1.2.0' } },
  { patch: 'enforceConformance (broker/conformance.ts)', relies: "mqtt-packet's parser _parseString/_parseConnect/_emitError/_list/_pos", versions: { 'mqtt-packet': '9.0.2' } },
  { patch: 'OutgoingQueue (broker/outgoing.ts)', relies: "aedes' Client deliver0/deliverQoS (read at SUBSCRIBE), duplicates (read by lib/client.js dedupe), waitForDrain (called by lib/write.js when a write says false) and _handleDrainTimeout, and mqemitter waiting for every delivery callback", versions: { aedes: '1.2.0', mqemitter: '7.1.0' } },
  { patch: 'limitPacketSize (broker/packet-size.ts)', relies: "mqtt-packet's parser parse/_parseLength/_emitError/_list/packet.length, and aedes' client.connackSent", versions: { 'mqtt-packet': '9.0.2', aedes: '1.2.0' } },
  { patch: 'connect timeouts counted (broker/broker.ts)', relies: "aedes' connect timer failing the connection with 'connect did not arrive in time'", versions: { aedes: '1.2.0' } },
  { patch: 'quiet-debug (broker/quiet-debug.ts)', relies: "mqtt-packet loading `debug` by require(), replaced in require's cache", versions: { debug: '4.4.3', 'mqtt-packet': '9.0.2' } },
  { patch: 'PublishOrder (broker/publish-order.ts)', relies: "aedes' publishFuncs (retained stored and QoS 1/2 queued before mq.emit), handlePublish publishing QoS 1 after the PUBACK with the packet authorizePublish saw, and aedes-packet numbering a new message ++broker.counter", versions: { aedes: '1.2.0', 'aedes-packet': '4.0.1' } },
  { patch: 'newestRetainedWins (broker/retained-writes.ts)', relies: 'aedes-persistence-level storing each retained message with its own put', versions: { 'aedes-persistence-level': '9.2.0' } },
  { patch: 'LevelStore direct batch (twin/store.ts)', relies: "abstract-level 3's chained batch _put/_del/_write, classic-level storing utf8 as is", versions: { 'abstract-level': '3.1.1', 'classic-level': '3.0.0' } },
]

describe('dependency patches are pinned to the versions they were written for', () => {
  for (const pin of PINS) {
    it(pin.patch, () => {
      for (const [name, version] of Object.entries(pin.versions)) {
        const found = installed(name, pin.from ?? ROOT)
        assert.equal(
          found,
          version,
          `PATCH ${pin.patch} was written for ${name}@${version}, and ${name}@${found} is installed. ` +
            `It relies on ${pin.relies}: check that in ${name}@${found}, then update the pin here and in package.json.`,
        )
      }
    })
  }

  it('package.json names those dependencies at exact versions', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> }
    const declared = { ...pkg.dependencies, ...pkg.devDependencies }
    for (const pin of PINS) {
      for (const [name, version] of Object.entries(pin.versions)) {
        if (declared[name] !== undefined) assert.equal(declared[name], version, `PATCH ${pin.patch}: package.json must pin ${name} to ${version}`)
      }
    }
  })

  it('readListDirectly finds bl\'s buffer list in a real mqtt-packet parser (else PATCH readListDirectly is skipped)', () => {
    const parser = mqttPacket.parser({ protocolVersion: 4 }) as unknown as { _list: unknown }
    assert.equal(readListDirectly(parser._list), true, 'PATCH readListDirectly: mqtt-packet parser._list is no longer a bl 6 list')
  })

  it('memoizeMatches finds the qlobber trie in a real mqemitter (else PATCH memoizeMatches is skipped)', () => {
    const mq = mqemitter()
    const before = (mq as unknown as { _matcher: { match: unknown } })._matcher.match
    memoizeMatches(mq)
    assert.notEqual((mq as unknown as { _matcher: { match: unknown } })._matcher.match, before, 'PATCH memoizeMatches: mqemitter has no _matcher trie it can wrap')
  })

  it("aedes numbers each published message with the broker's next counter (else PATCH PublishOrder orders nothing and only delays)", async () => {
    const broker = await Aedes.createBroker()
    try {
      const numbered = broker as unknown as { counter?: unknown }
      assert.equal(typeof numbered.counter, 'number', 'PATCH PublishOrder: aedes has no counter')
      const next = (numbered.counter as number) + 1
      const delivered = new Promise<number>((resolve) => broker.subscribe('probe', (packet, cb) => (resolve(packet.brokerCounter), cb()), () => {}))
      broker.publish({ cmd: 'publish', topic: 'probe', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }, () => {})
      assert.equal(await delivered, next, 'PATCH PublishOrder: a published message is not numbered counter + 1')
    } finally {
      await new Promise<void>((done) => broker.close(() => done()))
    }
  })

  it("aedes keeps the connection's parser as client._parser with the members conformance patches", async () => {
    const broker = await Aedes.createBroker()
    const client = broker.handle(new PassThrough()) as unknown as { _parser?: Record<string, unknown> }
    try {
      const parser = client._parser
      assert.ok(parser !== undefined, 'PATCH parseDirectly/enforceConformance: aedes client has no _parser')
      for (const member of ['_parseString', '_parseConnect', '_emitError']) {
        assert.equal(typeof parser[member], 'function', `PATCH enforceConformance: mqtt-packet parser has no ${member}`)
      }
      assert.equal(readListDirectly(parser._list), true, 'PATCH parseDirectly: the parser aedes made reads from no bl list')
    } finally {
      await new Promise<void>((done) => broker.close(() => done()))
    }
  })

  it("aedes' client and parser have what the per-client limits patch (else OutgoingQueue throws, limitPacketSize stands aside)", async () => {
    const broker = await Aedes.createBroker({ connectTimeout: 50 })
    const connectionErrors: string[] = []
    broker.on('connectionError', (_client, err) => connectionErrors.push(err.message))
    const client = broker.handle(new PassThrough()) as unknown as Record<string, unknown> & { _parser: Record<string, unknown> }
    try {
      for (const member of ['deliver0', 'deliverQoS', 'waitForDrain', '_handleDrainTimeout']) assert.equal(typeof client[member], 'function', `PATCH OutgoingQueue: aedes client has no ${member}`)
      assert.equal(typeof client.duplicates, 'object', 'PATCH OutgoingQueue: aedes client keeps no duplicates table for its dedupe')
      assert.equal(typeof client.connackSent, 'boolean', 'PATCH limitPacketSize: aedes client has no connackSent')
      for (const member of ['parse', '_parseLength', '_emitError']) assert.equal(typeof client._parser[member], 'function', `PATCH limitPacketSize: mqtt-packet parser has no ${member}`)
      await new Promise((done) => setTimeout(done, 200))
      assert.deepEqual(connectionErrors, ['connect did not arrive in time'], "PATCH connect timeouts counted: aedes' connect timer says something else")
    } finally {
      await new Promise<void>((done) => broker.close(() => done()))
    }
  })

  it("abstract-level's chained batch has the implementation methods the twin store calls", async () => {
    const db = new MemoryLevel<string, string>()
    await db.open()
    const batch = db.batch() as unknown as Record<string, unknown>
    for (const member of ['_put', '_del', '_write']) assert.equal(typeof batch[member], 'function', `PATCH LevelStore direct batch: no ${member} on abstract-level's chained batch`)
    await db.close()
  })

  it("quiet-debug replaces the `debug` that mqtt-packet loads (else the broker pays debug's checks on every packet)", async () => {
    // in a fresh process: here, aedes has loaded the real debug already
    const probe = [
      "await import('./broker/quiet-debug.ts')",
      "await import('mqtt-packet')",
      "const { createRequire } = await import('node:module')",
      "const { dirname } = await import('node:path')",
      "const require = createRequire(import.meta.url)",
      "const path = require.resolve('debug', { paths: [dirname(require.resolve('mqtt-packet'))] })",
      "const d = require.cache[path]?.exports",
      "console.log(JSON.stringify({ loaded: d !== undefined, quiet: d !== undefined && d('x').enabled === false && d.enabled('x') === false && d.humanize(5) === '5ms' }))",
    ].join('\n')
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { cwd: ROOT, env: { ...process.env, DEBUG: '' } })
    assert.deepEqual(JSON.parse(stdout), { loaded: true, quiet: true }, 'PATCH quiet-debug: mqtt-packet does not load the replaced debug')
  })
})
