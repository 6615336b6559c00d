/** The bus of in-process parts over aedes (broker/bus.ts `aedesBus`). */
import { strict as assert } from 'node:assert'
import { Aedes, type AedesPublishPacket } from 'aedes'
import { pino } from 'pino'
import { aedesBus } from '../../broker/bus.js'

describe('bus: in-process subscribers on aedes', () => {
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  async function broker(): Promise<Aedes> {
    const aedes = await Aedes.createBroker() // aedes' emitter: 100 deliveries at once, the rest queued
    undo.push(() => new Promise<void>((resolve) => aedes.close(() => resolve())))
    return aedes
  }

  it('a burst queued behind slow deliveries reaches the handler whole and in order, without growing the stack', async () => {
    const aedes = await broker()
    const bus = aedesBus(aedes, pino({ level: 'silent' }))
    undo.push(() => bus.stop())
    const seen: number[] = []
    await bus.subscribe('burst/+', (topic) => seen.push(Number(topic.slice('burst/'.length))))
    // Another subscriber, like a client's socket, completes on a later turn and holds every slot.
    await new Promise<void>((resolve) => aedes.subscribe('slow/+', (_packet: AedesPublishPacket, done: () => void) => setImmediate(done), resolve))
    const publish = (topic: string): Promise<void> => new Promise((resolve, reject) => aedes.publish({ cmd: 'publish', topic, payload: Buffer.from('{}'), qos: 1, retain: false, dup: false }, (err) => (err ? reject(err) : resolve())))
    const BURST = 20_000
    const all = [...Array.from({ length: 100 }, (_, i) => publish(`slow/${i}`)), ...Array.from({ length: BURST }, (_, i) => publish(`burst/${i}`))]
    // Completed synchronously, the queued burst was released one stack frame deeper per message:
    // RangeError: Maximum call stack size exceeded, thrown from aedes' callback.
    await Promise.all(all)
    assert.equal(seen.length, BURST)
    assert.ok(
      seen.every((n, i) => n === i),
      'in publish order',
    )
  })

  it('a handler that throws is logged; later messages still arrive', async () => {
    const aedes = await broker()
    const lines: string[] = []
    const bus = aedesBus(aedes, pino({ level: 'error' }, { write: (line: string) => lines.push(line) }))
    undo.push(() => bus.stop())
    const seen: string[] = []
    await bus.subscribe('t/+', (topic) => {
      if (topic === 't/bad') throw new Error('handler bug')
      seen.push(topic)
    })
    await bus.publish('t/bad', 'x', { qos: 1 })
    await bus.publish('t/good', 'x', { qos: 1 })
    assert.deepEqual(seen, ['t/good'])
    assert.equal(lines.length, 1)
    assert.match(lines[0] ?? '', /bus handler failed/)
  })
})
