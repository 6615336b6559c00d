/**
 * The twin's requests between the bus and their processing: at most `limit` are being processed at
 * once, and the others wait here as they arrived (topic and payload bytes), in arrival order, so
 * one device's requests keep their order. The broker hands the twin every request of a socket read
 * at once, and a request being processed holds its parsed body, its result and a chain of
 * suspended calls until its store batch is written: with a mapper's 1,000 devices each keeping a
 * request in flight, every chain outlived two young-generation collections and was promoted to the
 * old generation, and collecting took half the node's CPU. A waiting request holds its bytes only.
 * `limit` leaves the store's group commit a full batch (twin/store.ts).
 */
export class RequestIntake {
  readonly #limit: number
  readonly #begin: (topic: string, payload: Buffer, receivedMs: number) => Promise<void> | undefined
  // the waiting requests from #head on, in three arrays (times unboxed as doubles)
  #topics: string[] = []
  #payloads: Array<Buffer | undefined> = []
  #times: number[] = []
  #head = 0
  #active = 0
  #idle: Array<() => void> = []

  /**
   * @param begin starts processing a request and resolves when it is answered; undefined when the
   * request needs no processing (a topic the twin does not answer)
   */
  constructor(limit: number, begin: (topic: string, payload: Buffer, receivedMs: number) => Promise<void> | undefined) {
    this.#limit = limit
    this.#begin = begin
  }

  receive(topic: string, payload: Buffer): void {
    const receivedMs = performance.now()
    if (this.#active < this.#limit && this.#head === this.#topics.length) return this.#start(topic, payload, receivedMs)
    this.#topics.push(topic)
    this.#payloads.push(payload)
    this.#times.push(receivedMs)
  }

  /** Entries the intake holds: waiting requests, and begun ones not yet dropped from its arrays. */
  get held(): number {
    return this.#topics.length
  }

  /** Resolves once every request received so far is answered. */
  idle(): Promise<void> {
    if (this.#active === 0 && this.#head === this.#topics.length) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }

  #start(topic: string, payload: Buffer, receivedMs: number): void {
    const running = this.#begin(topic, payload, receivedMs)
    if (running === undefined) return
    this.#active++
    void running.then(this.#finished)
  }

  readonly #finished = (): void => {
    this.#active--
    while (this.#active < this.#limit && this.#head < this.#topics.length) {
      const i = this.#head++
      const payload = this.#payloads[i] as Buffer
      this.#payloads[i] = undefined
      this.#start(this.#topics[i] as string, payload, this.#times[i] as number)
    }
    this.#compact()
    if (this.#active === 0 && this.#head === this.#topics.length) {
      for (const resolve of this.#idle.splice(0)) resolve()
    }
  }

  /** Drops the begun requests from the arrays: at once when none waits, else once they are most of them. */
  #compact(): void {
    const head = this.#head
    if (head === 0) return
    if (head === this.#topics.length) {
      this.#topics = []
      this.#payloads = []
      this.#times = []
    } else if (head >= 1024 && head * 2 >= this.#topics.length) {
      this.#topics = this.#topics.slice(head)
      this.#payloads = this.#payloads.slice(head)
      this.#times = this.#times.slice(head)
    } else return
    this.#head = 0
  }
}
