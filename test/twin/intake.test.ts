import assert from 'node:assert/strict'
import { RequestIntake } from '../../twin/intake.js'

/** A request the test answers by hand: its topic, and how to finish it. */
interface Begun {
  topic: string
  finish(): void
}

function intake(limit: number): { intake: RequestIntake; begun: Begun[]; ignored: Set<string> } {
  const begun: Begun[] = []
  const ignored = new Set<string>()
  const i = new RequestIntake(limit, (topic) => {
    if (ignored.has(topic)) return undefined
    let finish = (): void => {}
    const running = new Promise<void>((resolve) => (finish = resolve))
    begun.push({ topic, finish })
    return running
  })
  return { intake: i, begun, ignored }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('twin request intake', () => {
  it('processes at most its limit at once and starts the waiting ones in arrival order', async () => {
    const { intake: i, begun } = intake(3)
    for (let n = 0; n < 10; n++) i.receive(`t${n}`, Buffer.from([n]))
    assert.deepEqual(begun.map((b) => b.topic), ['t0', 't1', 't2'])
    begun[1]?.finish()
    await turn()
    assert.deepEqual(begun.map((b) => b.topic), ['t0', 't1', 't2', 't3'])
    for (let n = 0; n < 20 && begun.length < 10; n++) {
      for (const b of begun) b.finish()
      await turn()
    }
    assert.deepEqual(begun.map((b) => b.topic), Array.from({ length: 10 }, (_, n) => `t${n}`))
  })

  it('a request arriving while others wait queues behind them even when a slot is free', async () => {
    const { intake: i, begun } = intake(1)
    i.receive('a', Buffer.alloc(0))
    i.receive('b', Buffer.alloc(0))
    begun[0]?.finish()
    await turn()
    i.receive('c', Buffer.alloc(0))
    assert.deepEqual(begun.map((b) => b.topic), ['a', 'b'])
  })

  it('takes no slot for a request it need not process', async () => {
    const { intake: i, begun, ignored } = intake(1)
    ignored.add('echo')
    i.receive('echo', Buffer.alloc(0))
    i.receive('a', Buffer.alloc(0))
    assert.deepEqual(begun.map((b) => b.topic), ['a'])
    begun[0]?.finish()
    await i.idle()
  })

  it('is idle only once every request received is answered', async () => {
    const { intake: i, begun } = intake(2)
    await i.idle()
    for (let n = 0; n < 5; n++) i.receive(`t${n}`, Buffer.alloc(0))
    let idle = false
    const waiting = i.idle().then(() => (idle = true))
    for (let round = 0; round < 10 && !idle; round++) {
      for (const b of begun) b.finish()
      await turn()
      if (begun.length < 5) assert.equal(idle, false)
    }
    await waiting
    assert.equal(begun.length, 5)
  })

  it('does not keep what it began while requests keep waiting (200,000 through a limit of 8)', async () => {
    const { intake: i, begun } = intake(8)
    const payload = Buffer.alloc(64)
    let received = 0
    let finished = 0
    // a steady load: the queue never empties, so begun requests must be dropped from it as it goes
    while (finished < 200_000) {
      while (received - finished < 1000) i.receive(`t${received++}`, payload)
      const batch = begun.splice(0)
      for (const b of batch) b.finish()
      finished += batch.length
      await Promise.resolve()
    }
    assert.ok(i.held <= 3 * 1024, `the intake holds ${i.held} entries for ~1,000 waiting requests`)
  })
})
