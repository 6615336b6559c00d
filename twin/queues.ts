/**
 * Runs tasks one at a time per key and concurrently across keys: one device's requests are
 * processed in arrival order while many devices progress together. A failing task is reported to
 * `onError` and never blocks the tasks queued after it.
 */
const RESOLVED = Promise.resolve()

export class KeyedQueues {
  readonly #tails = new Map<string, Promise<void>>()
  readonly #onError: (key: string, err: unknown) => void

  constructor(onError: (key: string, err: unknown) => void) {
    this.#onError = onError
  }

  /**
   * Runs `task` after every task queued for `key` so far; resolves when it has finished. It never
   * starts within the call: a task may queue more work for its own key (the twin's change hook
   * wakes the outbox, which reads the device through its queue), and that work must find this
   * task queued ahead of it. Two promises per task beyond the task's own: under load the twin runs
   * one task per request.
   */
  run(key: string, task: () => Promise<unknown>): Promise<void> {
    const started = (this.#tails.get(key) ?? RESOLVED).then(task)
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
