/**
 * The metrics and health listener of the real `tern edge` process (`http`) under hostile and
 * careless HTTP clients: a slow-loris client that opens connections and never finishes their
 * headers, and a thousand scrapes at once. The listener shares the process's file descriptors and
 * event loop with the broker and the twin; whatever it is sent, a normal MQTT client must still be
 * served within a bound (a QoS 1 round trip and a twin update answered). The node runs with a small
 * open-files limit (`prlimit`), as under systemd's LimitNOFILE, so that a flood of connections
 * reaches it quickly. How long the broker waits meanwhile is measured in bench/, not here.
 */
import { strict as assert } from 'node:assert'
import { readdir } from 'node:fs/promises'
import { connect as netConnect, type Socket } from 'node:net'
import { counterManifests, scratchWithDevices } from '../support/manifests.js'
import { ask, clientPool } from '../support/mqtt.js'
import { startChild } from '../support/resources.js'
import { startTernEdge, type TernEdgeProcess } from '../support/tern.js'

/** the node's open-files limit: room for the broker, LevelDB and the listener's own bound */
const NOFILE = 1024
/** a normal client's round trip, and a twin request's answer, must come within this */
const SERVED_MS = 5000

describe('robustness: the metrics listener of tern edge under a slow-loris client and floods of scrapes', function () {
  this.timeout(120_000)
  const pool = clientPool()
  const undo: Array<() => Promise<void>> = []
  const sockets = new Set<Socket>()
  let node: TernEdgeProcess
  let url: string

  before(async function () {
    const { dir, devices } = await scratchWithDevices(counterManifests(['c-1']), undo)
    node = await startTernEdge(dir, { node: { name: 'edge-1' }, twin: { manifestsDir: devices }, mqtt: { listeners: [{ port: 0 }] } }, [], (command, args) =>
      startChild('prlimit', [`--nofile=${NOFILE}:${NOFILE}`, '--', command, ...args]),
    )
    url = `mqtt://127.0.0.1:${node.listeners[0]?.port}`
  })
  afterEach(function () {
    for (const socket of sockets) socket.destroy()
    sockets.clear()
  })
  after(async function () {
    await node?.stop()
    for (const fn of undo.reverse()) await fn()
  })

  async function openFiles(): Promise<number> {
    return (await readdir(`/proc/${node.pid}/fd`)).length
  }

  /** A QoS 1 round trip through the broker and a twin/get answered, each within SERVED_MS. */
  async function served(): Promise<void> {
    const app = await pool.connect(url, { connectTimeout: SERVED_MS })
    await app.client.subscribeAsync(['probe/x', '$hw/events/device/c-1/twin/get/result'], { qos: 1 })
    await app.client.publishAsync('probe/x', 'x', { qos: 1 })
    await app.inbox.waitFor((m) => m.topic === 'probe/x', 'the QoS 1 round trip', SERVED_MS)
    await ask(app, '$hw/events/device/c-1/twin/get', SERVED_MS)
    assert.equal(node.process.exitCode, null, 'the node is alive')
  }

  it(`a slow-loris client opening ${NOFILE + 500} connections takes no descriptors the broker needs`, async function () {
    const port = node.httpPort
    const opened: Array<Promise<void>> = []
    for (let i = 0; i < NOFILE + 500; i++) {
      const socket = netConnect(port, '127.0.0.1')
      sockets.add(socket)
      socket.on('error', () => {})
      opened.push(new Promise((ok) => (socket.once('connect', () => ok()), socket.once('close', () => ok()))))
      // a request line and one header, then nothing: the headers never end
      socket.write('GET /metrics HTTP/1.1\r\nHost: tern\r\n')
    }
    await Promise.all(opened)
    // the node has accepted (or refused) them all once its descriptor count stops growing
    let files = await openFiles()
    for (let settled = 0; settled < 3; ) {
      await new Promise((ok) => setTimeout(ok, 200))
      const now = await openFiles()
      settled = now === files ? settled + 1 : 0
      files = now
    }
    await served()
    assert.ok(files < NOFILE / 2, `the node holds ${files} descriptors of ${NOFILE}`)
  })

  it('1,000 scrapes of /metrics at once: a normal client is served meanwhile and the listener answers again afterwards', async function () {
    // the scrapes come from a process of their own, as Prometheus' would: the test's event loop stays the probe's
    const scraper = startChild(process.execPath, ['--input-type=module', '-e', SCRAPE_1000, String(node.httpPort)])
    await scraper.waitForLine((l) => l === 'sent')
    await served()
    const { code } = await scraper.exited()
    assert.equal(code, 0, scraper.output())
    const codes = JSON.parse(scraper.output().trim().split('\n').at(-1) ?? '{}') as Record<string, number>
    assert.ok((codes['200'] ?? 0) > 0, `some scrapes answered: ${JSON.stringify(codes)}`)
    const after = await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)
    assert.equal(after.status, 200)
    await after.text()
    await served()
  })
})

/** 1,000 GET /metrics at once, each on its own connection; prints `sent`, then the count of each status (0: connection closed). */
const SCRAPE_1000 = `
import { request } from 'node:http'
const port = Number(process.argv[1])
const codes = {}
const scrapes = Array.from({ length: 1000 }, () => new Promise((ok) => {
  const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => { res.resume(); res.once('end', () => ok(res.statusCode)) })
  req.once('error', () => ok(0))
  req.end()
}))
console.log('sent')
for (const code of await Promise.all(scrapes)) codes[code] = (codes[code] ?? 0) + 1
console.log(JSON.stringify(codes))
`
