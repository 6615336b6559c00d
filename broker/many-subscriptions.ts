/**
 * A session with many subscriptions (a gateway app subscribing to one filter per device, 20,000
 * in one SUBSCRIBE) set up in time linear in their number, without stalling other clients.
 *
 * aedes 1.2 (lib/handlers/subscribe.js, storeSubscriptions) calls
 * `persistence.addSubscriptions(client, packet.subscriptions)` once for every filter of the
 * packet, each time with every filter of the packet: a SUBSCRIBE of N filters wrote N batches of
 * N subscriptions (N² LevelDB puts and msgpack encodings; 1,000 filters took 76 s, 20,000 would
 * take hours). It also passed filters the broker had refused (SUBACK 0x80), which were stored and
 * restored. Here the calls for one packet share one write of the granted filters.
 *
 * The work that remains is linear but still large, and aedes does each step for all filters in
 * one go (authorise, store, add to the trie, and on a clean reconnect remove them all), which
 * held the event loop for seconds. It is done in slices of SLICE filters, each in its own turn
 * of the event loop, so other clients' packets are served in between.
 */

import { topicMatches } from './topics.js'

/** filters handled per turn of the event loop */
export const SLICE = 500

type Subscription = { topic: string }
type AddSubscriptions<C> = (client: C, subs: readonly Subscription[]) => Promise<unknown>

/** Subscriptions (the packet's own objects) the broker refused; never stored. */
const refused = new WeakSet<object>()

/** Called by authorizeSubscribe for a filter it refuses. */
export function markRefused(sub: object): void {
  refused.add(sub)
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Answers for authorizeSubscribe, at most SLICE a turn of the event loop for each client: the
 * decision is taken at once (so refusals are known when the packet's filters are stored), the
 * answer may wait a turn. aedes authorises every filter of a SUBSCRIBE, or of a session being
 * restored, in one loop and goes on with each filter from its answer.
 */
export function pacedAnswers(): (client: object, answer: () => void) => void {
  const paces = new WeakMap<object, (answer: () => void) => void>()
  return (client, answer) => {
    let pace = paces.get(client)
    if (pace === undefined) paces.set(client, (pace = pacer()))
    pace(answer)
  }
}

/** One client's answers: SLICE a turn, the rest queued for the next turns. */
function pacer(): (answer: () => void) => void {
  const waiting: Array<() => void> = []
  let answered = 0
  let scheduled = false
  const release = (): void => {
    scheduled = false
    const now = waiting.splice(0, SLICE)
    answered = now.length
    if (now.length > 0) schedule() // to release more, or to reset the count; a quiet turn ends it
    for (const answer of now) answer()
  }
  const schedule = (): void => {
    if (scheduled) return
    scheduled = true
    setImmediate(release)
  }
  return (answer) => {
    if (waiting.length === 0 && answered < SLICE) {
      answered++
      schedule() // resets the count next turn
      answer()
    } else {
      waiting.push(answer)
      schedule()
    }
  }
}

/**
 * `addSubscriptions` that writes each SUBSCRIBE packet's granted filters once, SLICE to a batch.
 * aedes calls it once per granted filter, in the packet's order; the n-th call is answered when
 * the slice holding the n-th granted filter is stored, so aedes can go on with those filters
 * while the next slice is written.
 */
export function oneWritePerSubscribe<C>(addSubscriptions: AddSubscriptions<C>): AddSubscriptions<C> {
  // keyed by the packet's subscriptions array, which every call for that packet passes
  const writes = new WeakMap<readonly Subscription[], { calls: number; slices: Promise<Array<Promise<unknown>>> }>()
  return (client, subs) => {
    let write = writes.get(subs)
    if (write === undefined) {
      // One turn later every filter of the packet has been authorised (the decisions are synchronous).
      const slices = nextTurn().then(() => {
        const granted = subs.filter((sub) => !refused.has(sub))
        const stored: Array<Promise<unknown>> = []
        let previous: Promise<unknown> = Promise.resolve()
        for (let i = 0; i < granted.length; i += SLICE) {
          const slice = granted.slice(i, i + SLICE)
          previous = previous.then(nextTurn).then(() => addSubscriptions(client, slice))
          stored.push(previous)
        }
        return stored
      })
      write = { calls: 0, slices }
      writes.set(subs, write)
    }
    const n = write.calls++
    return write.slices.then((stored) => stored[Math.min(Math.floor(n / SLICE), stored.length - 1)])
  }
}

/** Removes `topics` from a session SLICE at a time, a turn of the event loop apart. */
export async function removeInSlices<C>(remove: (client: C, topics: readonly string[]) => Promise<unknown>, client: C, topics: readonly string[]): Promise<void> {
  for (let i = 0; i < topics.length; i += SLICE) {
    if (i > 0) await nextTurn()
    await remove(client, topics.slice(i, i + SLICE))
  }
}

/**
 * How many of `filters` match `topic`. Either every filter is tested, or every filter that could
 * match the topic (each level itself or `+`, or a `#` after any prefix: about 2^(levels+1)) is
 * looked up, whichever is fewer.
 */
export function matchingFilters(filters: ReadonlySet<string>, topic: string): number {
  const levels = topic.split('/')
  if (2 ** (levels.length + 1) > filters.size) {
    let n = 0
    for (const filter of filters) if (topicMatches(filter, topic)) n++
    return n
  }
  const dollar = topic.startsWith('$') // a leading wildcard never matches a $ topic [MQTT-4.7.2-1]
  let n = 0
  const visit = (prefix: string, depth: number): void => {
    const first = depth === 0
    if (!(first && dollar) && filters.has(first ? '#' : `${prefix}/#`)) n++ // # also matches the parent level [MQTT-4.7.1-2]
    if (depth === levels.length) {
      if (filters.has(prefix)) n++
      return
    }
    const join = (level: string): string => (first ? level : `${prefix}/${level}`)
    visit(join(levels[depth] ?? ''), depth + 1)
    if (!(first && dollar)) visit(join('+'), depth + 1)
  }
  visit('', 0)
  return n
}

/**
 * The retained messages for a SUBSCRIBE's filters, each once per filter it matches (as aedes
 * sends them), from one pass over the retained messages. aedes scans all retained messages once
 * per filter: 20,000 filters, 20,000 scans, running on long after the SUBACK.
 */
export async function* retainedFor<P extends { topic: string }>(all: AsyncIterable<P>, filters: readonly string[]): AsyncGenerator<P> {
  const wanted = new Set(filters)
  for await (const packet of all) {
    for (let n = matchingFilters(wanted, packet.topic); n > 0; n--) yield packet
  }
}
