/**
 * What `/readyz` answers: conditions a process sets as its parts come up (each with the reason it
 * is not met yet), and checks read at every request for what can fail later.
 */
export class Readiness {
  /** condition → reason it is not met; absent = met */
  readonly #unmet = new Map<string, string>()
  readonly #checks: Array<() => string | undefined> = []

  /** Conditions not met yet, in the order they are given. */
  constructor(pending: Record<string, string>) {
    for (const [name, reason] of Object.entries(pending)) this.#unmet.set(name, reason)
  }

  met(name: string): void {
    this.#unmet.delete(name)
  }

  unmet(name: string, reason: string): void {
    this.#unmet.set(name, reason)
  }

  /** `check` gives a reason while the process should not get traffic, else undefined. */
  check(check: () => string | undefined): void {
    this.#checks.push(check)
  }

  reasons(): string[] {
    const live = this.#checks.map((c) => c()).filter((r): r is string => r !== undefined)
    return [...this.#unmet.values(), ...live]
  }
}
