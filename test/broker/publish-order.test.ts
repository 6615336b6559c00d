/**
 * broker/publish-order.ts on its own, with an aedes stand-in whose QoS 1 messages take an
 * asynchronous step before the emitter (as aedes' offline enqueue does) and QoS 0 ones go at once:
 * a message waiting alone on its topic, a second one joining it, and a publish failing before it
 * reaches the emitter. The delivery-order suite runs the same rules through the real broker.
 */
import assert from 'node:assert/strict'
import type { Aedes, AedesPublishPacket, PublishPacket } from 'aedes'
import { PublishOrder } from '../../broker/publish-order.js'

type Done = (err?: Error) => void

interface Stand {
  publish: (packet: PublishPacket, client: null, done?: Done) => void
  emitted: string[]
  /** QoS 1 messages waiting for their asynchronous step, released by `step()` in publish order */
  step(fail?: Error): void
}

function stand(): Stand {
  const order = new PublishOrder()
  const emitted: string[] = []
  const mq = order.emitter({ emit: (packet: AedesPublishPacket, cb?: () => void) => void (emitted.push(String(packet.payload)), cb?.()) })
  const steps: Array<(fail?: Error) => void> = []
  const aedes = {
    counter: 0,
    publish(packet: PublishPacket, _client: unknown, done?: Done): void {
      const numbered = { ...packet, brokerCounter: ++aedes.counter } as AedesPublishPacket
      if (packet.qos === 0) return mq.emit(numbered, () => done?.())
      steps.push((fail) => (fail === undefined ? mq.emit(numbered, () => done?.()) : done?.(fail)))
    },
  }
  const publish = order.publishing(aedes as unknown as Aedes)
  return { publish: (packet, client, done) => publish(packet, client, done), emitted, step: (fail) => steps.shift()?.(fail) }
}

const message = (payload: string, qos: 0 | 1, topic = 't'): PublishPacket => ({ cmd: 'publish', topic, payload, qos, retain: false, dup: false })

describe('broker: publish order on one topic', () => {
  it('a QoS 1 message waiting alone holds up a QoS 0 one published after it, and nothing once it went out', () => {
    const s = stand()
    s.publish(message('a', 1), null)
    s.publish(message('b', 0), null)
    assert.deepEqual(s.emitted, [])
    s.step()
    assert.deepEqual(s.emitted, ['a', 'b'])
    s.publish(message('c', 0), null)
    assert.deepEqual(s.emitted, ['a', 'b', 'c'], 'the topic has nothing waiting: a QoS 0 message goes at once')
  })

  it('other topics do not wait for it', () => {
    const s = stand()
    s.publish(message('a', 1, 'one'), null)
    s.publish(message('b', 0, 'two'), null)
    assert.deepEqual(s.emitted, ['b'])
    s.step()
    assert.deepEqual(s.emitted, ['b', 'a'])
  })

  it('a message alone on its topic that fails before the emitter holds up nobody: its caller gets the error', () => {
    const s = stand()
    const errors: Array<Error | undefined> = []
    s.publish(message('a', 1), null, (err) => errors.push(err))
    s.step(new Error('store failed'))
    assert.deepEqual(errors.map((e) => e?.message), ['store failed'])
    s.publish(message('b', 0), null)
    assert.deepEqual(s.emitted, ['b'])
  })

  it('several waiting: each goes out once every earlier one went out or failed', () => {
    const s = stand()
    s.publish(message('a', 1), null)
    s.publish(message('b', 1), null)
    s.publish(message('c', 0), null)
    s.publish(message('d', 1), null)
    s.step(new Error('store failed')) // a
    assert.deepEqual(s.emitted, [])
    s.step() // b, then c which waited only for it
    assert.deepEqual(s.emitted, ['b', 'c'])
    s.step() // d
    assert.deepEqual(s.emitted, ['b', 'c', 'd'])
    s.publish(message('e', 0), null)
    assert.deepEqual(s.emitted, ['b', 'c', 'd', 'e'])
  })
})
