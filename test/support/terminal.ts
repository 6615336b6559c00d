/**
 * A command on a pseudo-terminal (pty-run.py), as a user's terminal runs it: what `kubectl exec
 * -it` and `kubectl attach -it` need to put the remote side in tty mode and send size changes.
 */
import { resolve } from 'node:path'
import { PYTHON } from './modbus.js'
import { startChild, type Child } from './resources.js'

const PTY_RUN = resolve(import.meta.dirname, 'pty-run.py')

export interface Terminal {
  readonly child: Child
  /** Types `text` at the terminal (a raw-mode program gets the bytes as they are: '\x04' is Ctrl-D). */
  type(text: string): void
  /** Resizes the terminal; the kernel sends the command SIGWINCH. */
  resize(rows: number, cols: number): void
}

export function startOnTerminal(command: string, args: readonly string[], options: { rows: number; cols: number; env?: NodeJS.ProcessEnv }): Terminal {
  const child = startChild(PYTHON, [PTY_RUN, String(options.rows), String(options.cols), command, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...(options.env === undefined ? {} : { env: options.env }) })
  const send = (command: object): void => void child.process.stdin?.write(`${JSON.stringify(command)}\n`)
  return { child, type: (input) => send({ input }), resize: (rows, cols) => send({ rows, cols }) }
}
