/**
 * Runs tasks one at a time per key and concurrently across keys: one device's requests are
 * processed in arrival order while many devices progress together. A failing task is reported to
 * `onError` and never blocks the tasks queued after it.
 */
export class KeyedQueues {
  readonly #tails = new Map<string, Promise<void>>()
  readonly #onError: (key: string, err: unknown) => void

  constructor(onError: (key: string, err: unknown) => void) {
    this.#onError = onError
  }

  run(key: string, task: () => Promise<void>): Promise<void> {
    const previous = this.#tails.get(key) ?? Promise.resolve()
    const tail = previous.then(task).catch((err: unknown) => this.#onError(key, err))
    this.#tails.set(key, tail)
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    })
    return tail
  }

  /** Resolves when every task queued so far has finished. */
  async drain(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all(this.#tails.values())
  }
}
