/**
 * Scrapes of the metrics listener (metrics/http-server.ts, `tern edge`'s and `tern cloud`'s) that
 * arrive together are answered from one collection, counted by a metric's read on a real listener
 * with real sockets; a scrape that comes after a collection has finished gets a new one, so it sees
 * what changed before it.
 */
import { strict as assert } from 'node:assert'
import { readdir } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { MetricsServer } from '../../metrics/http-server.js'
import { gaugedBy, Registry } from '../../metrics/prom.js'
import { eventually } from '../support/edged.js'
import { scrape, sample } from '../support/metrics.js'

/** A listener whose registry has one gauge, `test_value`, read from `read()` at every collection. */
async function listener(read: () => number): Promise<{ port: number; logged: string[]; stop(): Promise<void> }> {
  const registry = new Registry()
  gaugedBy(registry, { name: 'test_value', help: 'what the test set', read: () => [[{}, read()]] })
  const logged: string[] = []
  const log = pino(new Writable({ write: (chunk: Buffer, _enc, done) => (logged.push(chunk.toString()), done()) }))
  const server = new MetricsServer({ listener: { host: '127.0.0.1', port: 0, deviceSeries: 100, maxConnections: 128 }, registry, notReady: () => [], log })
  const { port } = await server.start()
  return { port, logged, stop: () => server.stop() }
}

/**
 * `n` connections to `port`, open and accepted by the listener (in this process) before any is
 * written to: a connection accepted after the requests were written is read a turn of the event
 * loop later than the others, when a busy loop may have let the collection start without it.
 */
async function connections(port: number, n: number): Promise<Socket[]> {
  const before = (await readdir('/proc/self/fd')).length
  const sockets = await Promise.all(Array.from({ length: n }, () => new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket))
    socket.once('error', reject)
  })))
  // each connection is two descriptors of this process once accepted: the test's end and the listener's
  await eventually(async () => (await readdir('/proc/self/fd')).length >= before + 2 * n, 10_000, `the listener accepting ${n} connections`)
  return sockets
}

/** The whole answer to the request `socket` was sent, status line and headers to the end. */
function answer(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()))
    socket.once('end', () => resolve(text))
    socket.once('error', reject)
  })
}

describe('metrics: scrapes that arrive together share one collection', function () {
  this.timeout(30_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const step of undo.splice(0).reverse()) await step()
  })

  it('100 scrapes written at once: one collection, and every scrape gets all of it', async () => {
    let reads = 0
    const l = await listener(() => ++reads)
    undo.push(() => l.stop())
    const sockets = await connections(l.port, 100)
    undo.push(() => Promise.resolve(sockets.forEach((s) => s.destroy())))
    const answers = sockets.map(answer)
    // written in one turn of this process's event loop: the listener reads them all in its next
    for (const socket of sockets) socket.write('GET /metrics HTTP/1.1\r\nHost: tern\r\nConnection: close\r\n\r\n')
    const texts = await Promise.all(answers)
    assert.equal(reads, 1, 'collections for 100 scrapes')
    for (const text of texts) {
      const [head = '', body = ''] = text.split('\r\n\r\n')
      assert.match(head, /^HTTP\/1\.1 200 /)
      assert.match(head, /\r\ncontent-type: text\/plain; version=0\.0\.4; charset=utf-8\r\n/i)
      assert.match(head, new RegExp(`\\r\\ncontent-length: ${Buffer.byteLength(body)}\\r\\n`, 'i'))
      assert.match(body, /^test_value 1$/m)
    }
  })

  it('a scrape after another has been answered collects anew and sees a change made in between; HEAD is answered with the length alone', async () => {
    let value = 1
    let reads = 0
    const l = await listener(() => (reads++, value))
    undo.push(() => l.stop())
    assert.equal(sample(await scrape(l.port), 'test_value'), 1)
    value = 2
    assert.equal(sample(await scrape(l.port), 'test_value'), 2)
    value = 3
    const head = await fetch(`http://127.0.0.1:${l.port}/metrics`, { method: 'HEAD' })
    const get = await fetch(`http://127.0.0.1:${l.port}/metrics`)
    const body = await get.text()
    assert.match(body, /^test_value 3$/m)
    assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(body)))
    assert.equal(reads, 4)
  })

  it('a collection that fails: every scrape waiting for it gets 500, the failure is logged once, and the next scrape collects again', async () => {
    let fail = true
    const l = await listener(() => {
      if (fail) throw new Error('the part is gone')
      return 7
    })
    undo.push(() => l.stop())
    const sockets = await connections(l.port, 10)
    undo.push(() => Promise.resolve(sockets.forEach((s) => s.destroy())))
    const answers = sockets.map(answer)
    for (const socket of sockets) socket.write('GET /metrics HTTP/1.1\r\nHost: tern\r\nConnection: close\r\n\r\n')
    for (const text of await Promise.all(answers)) assert.match(text, /^HTTP\/1\.1 500 /)
    assert.equal(l.logged.filter((line) => line.includes('collecting metrics failed')).length, 1, 'failures logged')
    fail = false
    assert.equal(sample(await scrape(l.port), 'test_value'), 7)
  })
})
