/**
 * The transport-independent session (cloud-sync/session.ts) on in-memory wires: answers matched by
 * parent_msg_id, re-sends at doubling intervals (kubeedge-compat.md §5.3 re-sends every 5 s; tern
 * backs off so a peer slow to answer is not flooded: bench/cloud.ts measured 20,000 copies/s at
 * 100,000 devices with a fixed interval), bad frames answered without ending the session.
 */
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { message, response, Sources, type Envelope } from '../../cloud-sync/messages.js'
import { Session, wirePair } from '../../cloud-sync/session.js'
import { MAX_NESTING } from '../../schemas/cloud-link-limits.js'
import { ManualClock } from '../support/manual-clock.js'

const log = pino({ level: 'silent' })
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Waits until `replies` holds `count` frames; generous: a loaded machine stalls for seconds. */
async function replied(replies: readonly string[], count: number): Promise<void> {
  const deadline = Date.now() + 10_000
  while (replies.length < count && Date.now() < deadline) await sleep(10)
}

describe('cloud sync: session', () => {
  it('re-sends an unanswered request at doubling intervals up to resendMaxMs, and stops once answered', async () => {
    const [a, b] = wirePair()
    // virtual time: the intervals are the session's, not the machine's load
    const clock = new ManualClock()
    const started = clock.now()
    const edge = new Session(a, { node: 'n1', source: Sources.edge, log, resendMs: 20, resendMaxMs: 80, clock })
    const cloud = new Session(b, { node: 'n1', source: Sources.cloud, log })
    const copies: number[] = []
    let answer = false
    cloud.onMessage((m) => {
      copies.push(clock.now() - started)
      if (answer) cloud.send(response(m, Sources.cloud))
    })
    const request = message({ source: Sources.edge, group: 'twin', operation: 'update', resource: 'device/default/d/twin/edge_updated' }, { event_id: '', timestamp: 0, twin: {} })
    const answered = edge.request(request)
    for (let t = 0; t < 430; t += 10) await clock.advance(10)
    // sent at 0, re-sent at 20, 60, 140, 220, 300, 380: intervals 20, 40, 80, 80, …
    assert.deepEqual(copies, [0, 20, 60, 140, 220, 300, 380])
    answer = true
    await clock.advance(80)
    const got: Envelope = await answered
    assert.equal(got.header.parent_msg_id, request.header.msg_id)
    const count = copies.length
    for (let t = 0; t < 400; t += 10) await clock.advance(10)
    assert.equal(copies.length, count, 'nothing re-sent after the answer')
    assert.deepEqual(clock.pending(), [], 'no timer left')
    edge.close()
  })

  it('a frame that is not an envelope is answered with CLOUD_MESSAGE_INVALID and the session stays open', async () => {
    const [a, b] = wirePair()
    const cloud = new Session(b, { node: 'n1', source: Sources.cloud, log })
    const replies: string[] = []
    a.onText((t) => replies.push(t))
    a.send('not json')
    a.send(JSON.stringify({ header: { msg_id: 'x1' }, route: {} }))
    await replied(replies, 2)
    const answers = replies.map((t) => JSON.parse(t) as Envelope)
    assert.deepEqual(answers.map((r) => [r.route.operation, r.header.parent_msg_id, (r.content as { code: string }).code]), [
      ['error', '', 'CLOUD_MESSAGE_INVALID'], // no msg_id to name: answered all the same
      ['error', 'x1', 'CLOUD_MESSAGE_INVALID'],
    ])
    assert.ok(cloud.open)
    cloud.close()
  })

  it('a flood of malformed frames is answered frame by frame and logged once; a frame nested deeper than MAX_NESTING is refused', async () => {
    const [a, b] = wirePair()
    const lines: string[] = []
    const logged = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) })
    const cloud = new Session(b, { node: 'n1', source: Sources.cloud, log: logged })
    const replies: string[] = []
    a.onText((t) => replies.push(t))
    for (let i = 0; i < 200; i++) a.send(`garbage ${i}`)
    a.send(`{"header":{"msg_id":"deep"},"route":{},"content":${'['.repeat(MAX_NESTING + 1)}${']'.repeat(MAX_NESTING + 1)}}`)
    await replied(replies, 201)
    assert.equal(replies.length, 201)
    const last = JSON.parse(replies[200] as string) as Envelope
    assert.deepEqual([last.header.parent_msg_id, (last.content as { code: string }).code], ['deep', 'CLOUD_MESSAGE_INVALID'])
    assert.match((last.content as { reason: string }).reason, /deeper than 64 levels/)
    assert.equal(lines.filter((l) => l.includes('CLOUD_MESSAGE_INVALID')).length, 1, lines.join(''))
    assert.ok(cloud.open)
    cloud.close()
  })
})
