/**
 * The broker's hot-path helpers on real sockets and a real mqemitter: what a client receives
 * must not change, only how many writes carry it and how often the trie is asked.
 */
import { strict as assert } from 'node:assert'
import { once } from 'node:events'
import { createServer, connect, type Server, type Socket } from 'node:net'
import mqemitter from 'mqemitter'
import * as mqttPacket from 'mqtt-packet'
import fc from 'fast-check'
import { COPY_LIMIT, TopicMemo, coalesceWrites, memoizeMatches, readListDirectly } from '../../broker/hot-path.js'

interface Pair {
  /** the coalesced side */
  sender: Socket
  /** everything that reached the other side, once it has ended */
  received: Promise<Buffer>
  /** the chunks the sender's stream layer was handed (what goes to the kernel) */
  handed: number[]
  /** pause the receiving side's reads */
  receiver: Socket
}

describe('broker/hot-path', () => {
  let server: Server
  const sockets: Socket[] = []
  before(async () => {
    server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
  })
  afterEach(() => sockets.splice(0).forEach((s) => s.destroy()))
  after(() => server.close())

  async function pair(options: { writableHighWaterMark?: number } = {}): Promise<Pair> {
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('server not bound')
    const accepted = once(server, 'connection') as Promise<[Socket]>
    const sender = connect({ port: address.port, host: '127.0.0.1', ...options })
    await once(sender, 'connect')
    const [receiver] = await accepted
    sockets.push(sender, receiver)
    const handed: number[] = []
    // the stream layer's own hooks, below any write() wrapper: count what they are handed
    const writeOne = sender._write.bind(sender)
    const writeMany = sender._writev?.bind(sender)
    sender._write = (chunk: Buffer, encoding, callback) => {
      handed.push(1)
      writeOne(chunk, encoding, callback)
    }
    if (writeMany !== undefined) {
      sender._writev = (chunks, callback) => {
        handed.push(chunks.length)
        writeMany(chunks, callback)
      }
    }
    coalesceWrites(sender)
    const parts: Buffer[] = []
    receiver.on('data', (d: Buffer) => parts.push(d))
    const received = once(receiver, 'end').then(() => Buffer.concat(parts))
    return { sender, received, handed, receiver }
  }

  it('one turn of small writes (strings and buffers) reaches the kernel as one buffer, in order and byte for byte', async () => {
    const p = await pair()
    const expected: Buffer[] = []
    for (let i = 0; i < 200; i++) {
      const topic = `bench/ü/${i}` // multi-byte UTF-8: lengths are counted in bytes
      const header = Buffer.from([0x30, topic.length])
      p.sender.write(header)
      p.sender.write(topic)
      expected.push(header, Buffer.from(topic))
    }
    assert.deepEqual(p.handed, [], 'nothing written before the turn ends')
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(p.handed, [1])
    p.sender.end()
    assert.deepEqual(await p.received, Buffer.concat(expected))
  })

  it('a large chunk, a write with a callback and end() keep their place after what was written before them', async () => {
    const p = await pair()
    const big = Buffer.alloc(COPY_LIMIT, 7)
    let called = false
    p.sender.write('a')
    p.sender.write(big)
    p.sender.write('b')
    p.sender.write('c', () => (called = true))
    p.sender.write(Buffer.from('d'))
    p.sender.write('ё', 'latin1') // another encoding: written as it is
    p.sender.end('f')
    const got = await p.received
    assert.deepEqual(got, Buffer.concat([Buffer.from('a'), big, Buffer.from('bcd'), Buffer.from('ё', 'latin1'), Buffer.from('f')]))
    assert.equal(called, true)
  })

  it('back-pressure: write() says false past the high-water mark, and every false is followed by a drain', async () => {
    const p = await pair({ writableHighWaterMark: 4096 })
    p.receiver.pause() // the kernel's buffers fill, then the socket's own
    const chunk = Buffer.alloc(1000, 1)
    let written = 0
    let falses = 0
    for (let round = 0; round < 200; round++) {
      let ok = true
      while (ok) {
        ok = p.sender.write(chunk)
        written += chunk.length
      }
      falses++
      if (round === 20) p.receiver.resume()
      await once(p.sender, 'drain')
    }
    p.sender.end()
    p.receiver.resume()
    assert.equal((await p.received).length, written)
    assert.equal(falses, 200)
  })

  it('writes after destroy() fail as they would without coalescing, and nothing is left queued', async () => {
    const p = await pair()
    p.sender.destroy()
    const failed = new Promise<Error | null | undefined>((resolve) => p.sender.write('x', resolve))
    p.sender.write('y')
    assert.ok((await failed) instanceof Error)
  })

  describe('TopicMemo', () => {
    it('answers a remembered topic without computing it again, until cleared', () => {
      const memo = new TopicMemo<number>(10)
      let computed = 0
      const compute = (t: string): number => (computed++, t.length)
      assert.equal(memo.get('a/b', compute), 3)
      assert.equal(memo.get('a/b', compute), 3)
      assert.equal(computed, 1)
      memo.clear()
      memo.get('a/b', compute)
      assert.equal(computed, 2)
    })

    it('with more topics in use than it keeps, stops remembering for SKIP_FACTOR × limit lookups, then tries again', () => {
      const limit = 4
      const memo = new TopicMemo<string>(limit)
      let computed = 0
      const compute = (t: string): string => (computed++, t)
      for (let i = 0; i <= limit; i++) memo.get(`t/${i}`, compute) // full with no hits: gives up
      const skipped = limit * TopicMemo.SKIP_FACTOR
      computed = 0
      for (let i = 0; i < skipped; i++) memo.get('t/0', compute)
      assert.equal(computed, skipped, 'computed every time while skipping')
      memo.get('t/0', compute)
      memo.get('t/0', compute)
      assert.equal(computed, skipped + 1, 'remembered again after the skip')
    })

    it('a full memo that was answering most lookups starts over and keeps remembering', () => {
      const memo = new TopicMemo<string>(2)
      let computed = 0
      const compute = (t: string): string => (computed++, t)
      for (let i = 0; i < 3; i++) memo.get('x', compute)
      memo.get('y', compute)
      memo.get('z', compute) // full (x, y) with 2 hits: cleared, z kept
      computed = 0
      memo.get('z', compute)
      assert.equal(computed, 0)
    })
  })

  describe('memoizeMatches', () => {
    const deliveries = async (mq: ReturnType<typeof mqemitter>, topic: string): Promise<void> =>
      new Promise((resolve, reject) => mq.emit({ topic }, (err) => (err === undefined || err === null ? resolve() : reject(err))))

    it('delivers as mqemitter does while subscriptions come and go (the remembered answers are dropped at each change)', async () => {
      const mq = memoizeMatches(mqemitter({ matchEmptyLevels: true }))
      const got: string[] = []
      const a = (m: { topic: string }, done: () => void): void => (got.push(`a:${m.topic}`), done())
      const b = (m: { topic: string }, done: () => void): void => (got.push(`b:${m.topic}`), done())
      mq.on('s/+', a)
      await deliveries(mq, 's/1')
      await deliveries(mq, 's/1')
      mq.on('s/#', b)
      await deliveries(mq, 's/1')
      await new Promise<void>((resolve) => mq.removeListener('s/+', a, resolve))
      await deliveries(mq, 's/1')
      await deliveries(mq, 's//') // an empty level is a level [MQTT-4.7.1-3]
      assert.deepEqual(got, ['a:s/1', 'a:s/1', 'b:s/1', 'a:s/1', 'b:s/1', 'b:s//']) // qlobber: # before +
    })

    it('an emitter without the trie it expects is returned as it is', () => {
      const match = (): unknown[] => []
      const other = { _matcher: { match } } // no add/remove/clear: not qlobber
      assert.equal(memoizeMatches(other), other)
      assert.equal(other._matcher.match, match, 'match not wrapped')
    })
  })

  describe('readListDirectly', () => {
    const packets: mqttPacket.Packet[] = [
      { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'dev-ü', clean: true, keepalive: 30, username: 'u', password: Buffer.from('p') },
      { cmd: 'publish', topic: '$hw/events/device/ü-1/twin/update', payload: Buffer.from('{"twin":{}}'), qos: 0, retain: false, dup: false },
      { cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(300, 7), qos: 1, messageId: 513, retain: true, dup: false },
      { cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'a/+', qos: 1 }] },
      { cmd: 'pingreq' },
      { cmd: 'publish', topic: 't', payload: Buffer.alloc(20_000, 1), qos: 0, retain: false, dup: false },
    ]
    const wire = Buffer.concat(packets.map((p) => mqttPacket.generate(p)))

    function parse(chunks: Buffer[], direct: boolean): unknown[] {
      const parser = mqttPacket.parser({ protocolVersion: 4 })
      if (direct) assert.equal(readListDirectly((parser as unknown as { _list: unknown })._list), true)
      const got: unknown[] = []
      parser.on('packet', (p) => got.push({ ...p }))
      parser.on('error', (err: Error) => got.push(err.message))
      for (const c of chunks) parser.parse(c)
      return got
    }

    it('parses any split of a packet stream exactly as bl does (property)', () => {
      fc.assert(
        fc.property(fc.uniqueArray(fc.integer({ min: 1, max: wire.length - 1 }), { maxLength: 12 }), (cuts) => {
          const at = [0, ...cuts.sort((a, b) => a - b), wire.length]
          const chunks = at.slice(1).map((end, i) => wire.subarray(at[i], end))
          const direct = parse(chunks, true)
          assert.deepEqual(direct, parse(chunks, false))
          assert.equal(direct.length, packets.length)
        }),
        { numRuns: 300 },
      )
    })

    it('a list that is not bl is left alone', () => {
      assert.equal(readListDirectly(undefined), false)
      assert.equal(readListDirectly({ _bufs: 'x' }), false)
    })
  })
})
