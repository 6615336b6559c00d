/**
 * inCallOrder (broker/in-call-order.ts): the writes a store finishes in any order are answered in
 * the order they were asked for, a failure answers only its own caller, and a call with nothing to
 * write waits for every earlier unanswered one, but is answered at once when none is.
 */
import assert from 'node:assert/strict'
import { inCallOrder } from '../../broker/in-call-order.js'

/** Writes that finish when told, each by its name. */
function heldWrites(): { write: (name: string) => Promise<string> | undefined; finish: (name: string, err?: Error) => void } {
  const held = new Map<string, { resolve(v: string): void; reject(e: Error): void }>()
  return {
    // '' stands for a call with nothing to write
    write: (name) => (name === '' ? undefined : new Promise<string>((resolve, reject) => held.set(name, { resolve, reject }))),
    finish: (name, err) => {
      const w = held.get(name)
      assert.ok(w, `no write ${name}`)
      if (err === undefined) w.resolve(name)
      else w.reject(err)
    },
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function recorder(answers: string[], name: string): [(v: unknown) => void, (e: Error) => void] {
  return [() => answers.push(name), (e) => answers.push(`${name}:${e.message}`)]
}

describe('broker: persistence calls answered in the order they were made', () => {
  it('writes finished in reverse are answered in call order, a failure only to its own caller', async () => {
    const w = heldWrites()
    const ordered = inCallOrder(w.write)
    const answers: string[] = []
    for (const name of ['a', 'b', 'c', 'd']) void ordered(name).then(...recorder(answers, name))
    w.finish('d')
    w.finish('c', new Error('disk'))
    await turn()
    assert.deepEqual(answers, [], 'nothing answered before the first call')
    w.finish('b')
    await turn()
    assert.deepEqual(answers, [])
    w.finish('a')
    await turn()
    assert.deepEqual(answers, ['a', 'b', 'c:disk', 'd'])
  })

  it('a call with nothing to write waits for the earlier unanswered ones, and is answered at once once none is left', async () => {
    const w = heldWrites()
    const ordered = inCallOrder(w.write)
    const answers: string[] = []
    void ordered('a').then(...recorder(answers, 'a'))
    void ordered('').then(...recorder(answers, 'nothing-1'))
    await turn()
    assert.deepEqual(answers, [], 'the call with nothing to write was answered before the write made before it')
    w.finish('a')
    await turn()
    assert.deepEqual(answers, ['a', 'nothing-1'])
    // nothing outstanding: answered within the same tick's microtasks, before any later write
    void ordered('').then(...recorder(answers, 'nothing-2'))
    void ordered('b').then(...recorder(answers, 'b'))
    await Promise.resolve()
    await Promise.resolve()
    assert.deepEqual(answers, ['a', 'nothing-1', 'nothing-2'])
    void ordered('').then(...recorder(answers, 'nothing-3'))
    w.finish('b')
    await turn()
    assert.deepEqual(answers, ['a', 'nothing-1', 'nothing-2', 'b', 'nothing-3'])
  })
})
