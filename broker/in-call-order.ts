/**
 * `write`, its calls finishing in the order they were made; the writes themselves still run at
 * once, only their answers wait for the earlier ones. aedes goes on with a QoS 1/2 message when
 * the store has written it, and LevelDB finishes concurrent writes in any order, so messages went
 * out in another order than they were published [MQTT-4.6.0-6] (and, before outgoing.ts counted
 * copies itself, aedes dropped the overtaken ones as copies).
 *
 * A call with nothing to write (`write` answers undefined) while no earlier call is unanswered is
 * answered at once with a shared settled promise: every QoS 1/2 publish comes here, most with no
 * offline subscriber, and chaining each one behind the last (Promise.allSettled, its array and
 * result objects, two more promises) made this the broker's largest allocation per message.
 */
export function inCallOrder<A extends unknown[], R>(write: (...args: A) => Promise<R> | undefined): (...args: A) => Promise<R | undefined> {
  /** the newest call's answer, settled or not, while any call is unanswered */
  let previous: Promise<unknown> | undefined
  let unanswered = 0
  const answeredOne = (): void => {
    if (--unanswered === 0) previous = undefined
  }
  return (...args) => {
    const written = write(...args)
    if (previous === undefined && written === undefined) return ANSWERED
    const answered = previous === undefined ? (written as Promise<R>) : Promise.allSettled([previous, written]).then(() => written)
    unanswered++
    previous = answered.then(answeredOne, answeredOne)
    return answered
  }
}

const ANSWERED: Promise<undefined> = Promise.resolve(undefined)
