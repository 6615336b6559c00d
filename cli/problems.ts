import type { TernError } from '../schemas/tern-error.js'

/** Several problems of one run, each with its own code; the CLI prints one line each (`tern: CODE: message`). */
export class SetupProblems extends Error {
  constructor(readonly problems: readonly TernError[]) {
    super(problems.map((p) => `${p.code}: ${p.message}`).join('\n'))
  }
}
