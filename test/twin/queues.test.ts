import assert from 'node:assert/strict'
import { KeyedQueues } from '../../twin/queues.js'

/** A task the test finishes by hand. */
function held(log: string[], name: string): { task: () => Promise<void>; finish(): void; fail(err: Error): void } {
  let finish = (): void => {}
  let fail = (_err: Error): void => {}
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve
    fail = reject
  })
  return {
    task: () => {
      log.push(`start ${name}`)
      return done.then(() => void log.push(`end ${name}`))
    },
    finish: () => finish(),
    fail: (err) => fail(err),
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('twin keyed queues', () => {
  it("runs one key's tasks in order and other keys meanwhile", async () => {
    const queues = new KeyedQueues(() => assert.fail('no task fails here'))
    const log: string[] = []
    const a1 = held(log, 'a1')
    const a2 = held(log, 'a2')
    const b1 = held(log, 'b1')
    const ran = [queues.run('a', a1.task), queues.run('a', a2.task), queues.run('b', b1.task)]
    assert.deepEqual(log, [], 'nothing starts within run()')
    await turn()
    assert.deepEqual(log, ['start a1', 'start b1'], 'a2 waits behind a1')
    b1.finish()
    await turn()
    assert.deepEqual(log, ['start a1', 'start b1', 'end b1'], 'another key does not wait for a1')
    a1.finish()
    await turn()
    assert.deepEqual(log.slice(3), ['end a1', 'start a2'])
    a2.finish()
    await Promise.all(ran)
    assert.deepEqual(log.slice(5), ['end a2'])
  })

  it('reports a task that rejects or throws and runs the next one of its key', async () => {
    const failed: Array<[string, string]> = []
    const queues = new KeyedQueues((key, err) => failed.push([key, (err as Error).message]))
    const log: string[] = []
    const first = held(log, 'first')
    const throwing = (): Promise<void> => {
      throw new Error('thrown')
    }
    const after = held(log, 'after')
    const ran = [queues.run('k', first.task), queues.run('k', throwing), queues.run('k', after.task), queues.run('other', throwing)]
    assert.deepEqual(failed, [], 'a task that throws at once is reported as a rejection, not thrown at the caller')
    first.fail(new Error('rejected'))
    await turn()
    assert.deepEqual(log, ['start first', 'start after'])
    after.finish()
    await Promise.all(ran)
    assert.deepEqual(failed, [
      ['other', 'thrown'],
      ['k', 'rejected'],
      ['k', 'thrown'],
    ])
  })

  it('drain waits for every task queued, and a key is forgotten once its last task finished', async () => {
    const queues = new KeyedQueues(() => {})
    const log: string[] = []
    const tasks = Array.from({ length: 3 }, (_, i) => held(log, `t${i}`))
    for (const t of tasks) void queues.run('k', t.task)
    let drained = false
    const draining = queues.drain().then(() => (drained = true))
    tasks[0]?.finish()
    tasks[1]?.finish()
    await turn()
    assert.equal(drained, false)
    tasks[2]?.finish()
    await draining
    assert.deepEqual(log, ['start t0', 'end t0', 'start t1', 'end t1', 'start t2', 'end t2'])
  })

  it('a task that queues work for its own key as it starts finds itself ahead of that work', async () => {
    const queues = new KeyedQueues(() => assert.fail('no task fails here'))
    const log: string[] = []
    let read: Promise<void> | undefined
    const first = held(log, 'update')
    await queues.run('k', () => {
      // the twin's change hook wakes the outbox, which reads the device through the same queue
      read = queues.run('k', () => Promise.resolve(void log.push('read')))
      const running = first.task()
      first.finish()
      return running
    })
    await read
    assert.deepEqual(log, ['start update', 'end update', 'read'])
  })
})
