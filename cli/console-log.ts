/**
 * Libraries that print to the console (node-opcua's warnings and errors go to console.log, with
 * colours) would break the one-JSON-object-per-line contract of a running node's output. Once a
 * long-running command has its logger, console output is written through it instead, as lines with
 * `"part":"console"`, at the level the console method implies, colours stripped. The command's own
 * messages to the user are written to the streams directly, not through console.
 */
import { format } from 'node:util'
import type { Logger } from 'pino'

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g

export function routeConsoleToLog(log: Logger): void {
  const child = log.child({ part: 'console' })
  const to = (level: 'debug' | 'info' | 'warn' | 'error') => (...args: unknown[]) => {
    const text = format(...args).replace(ANSI, '').trimEnd()
    if (text !== '') child[level](text)
  }
  console.log = to('info')
  console.info = to('info')
  console.warn = to('warn')
  console.error = to('error')
  console.debug = to('debug')
  console.trace = to('debug')
}
