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

  /**
   * Starts `task` at once when nothing is queued for `key` (each device mostly has one request in
   * flight), else after the last queued one; resolves when it has finished. One promise per task
   * beyond the task's own: under load the twin runs one task per request.
   */
  run(key: string, task: () => Promise<unknown>): Promise<void> {
    const previous = this.#tails.get(key)
    const started = previous === undefined ? start(task) : previous.then(task)
    const tail: Promise<void> = started.then(
      () => this.#settled(key, tail),
      (err: unknown) => {
        this.#onError(key, err)
        this.#settled(key, tail)
      },
    )
    this.#tails.set(key, tail)
    return tail
  }

  /** Resolves when every task queued so far has finished. */
  async drain(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all(this.#tails.values())
  }

  #settled(key: string, tail: Promise<void>): void {
    if (this.#tails.get(key) === tail) this.#tails.delete(key)
  }
}

/** `task()`, with a synchronous throw turned into a rejection, as `then` would. */
function start(task: () => Promise<unknown>): Promise<unknown> {
  try {
    return task()
  } catch (err) {
    return Promise.resolve().then(() => {
      throw err
    })
  }
}
