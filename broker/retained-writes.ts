/**
 * The retained message a topic keeps is the last one published to it [MQTT-3.3.1-5], in the store
 * too. aedes stores each retained message as it comes (aedes-persistence-level: one LevelDB put
 * each), and LevelDB finishes concurrent writes in any order: of a burst of retained messages on
 * one topic, an earlier one was sometimes written last, and later subscribers (and the node after
 * a restart) got it instead of the last one.
 *
 * Here each topic has one write at a time. Messages that arrive meanwhile replace each other and
 * only the newest is written next; a caller is answered when its message, or a newer one of its
 * topic, is written (an earlier write's failure answers only its own callers).
 */
type Answer = { resolve: () => void; reject: (err: unknown) => void }

interface Waiting<P> {
  packet: P
  answers: Answer[]
}

export function newestRetainedWins<P extends { topic: string }>(write: (packet: P) => Promise<unknown>): (packet: P) => Promise<void> {
  /** topics with a write in flight -> the message to write next, if one came meanwhile */
  const writing = new Map<string, Waiting<P> | undefined>()
  const run = (topic: string, job: Waiting<P>): void => {
    write(job.packet).then(
      () => {
        for (const a of job.answers) a.resolve()
        next(topic)
      },
      (err: unknown) => {
        for (const a of job.answers) a.reject(err)
        next(topic)
      },
    )
  }
  const next = (topic: string): void => {
    const waiting = writing.get(topic)
    if (waiting === undefined) return void writing.delete(topic)
    writing.set(topic, undefined)
    run(topic, waiting)
  }
  return (packet) =>
    new Promise<void>((resolve, reject) => {
      const answer = { resolve, reject }
      if (!writing.has(packet.topic)) {
        writing.set(packet.topic, undefined)
        return run(packet.topic, { packet, answers: [answer] })
      }
      const waiting = writing.get(packet.topic)
      if (waiting === undefined) writing.set(packet.topic, { packet, answers: [answer] })
      else {
        waiting.packet = packet
        waiting.answers.push(answer)
      }
    })
}
