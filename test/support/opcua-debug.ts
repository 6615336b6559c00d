/**
 * node-opcua-debug as node-opcua itself loads it (node-opcua's dependency, not ours: the same
 * module instance, so its loggers are node-opcua's), resolved without loading node-opcua.
 */
import { createRequire } from 'node:module'

/** node-opcua-debug calls a logger with the caller's `{filename, callerline}` first. */
export type OpcuaLogger = (context: unknown, ...args: unknown[]) => void

export interface OpcuaDebug {
  setWarningLogger(log: OpcuaLogger): void
  setErrorLogger(log: OpcuaLogger): void
  make_warningLog(context: string): (...args: unknown[]) => void
  make_errorLog(context: string): (...args: unknown[]) => void
}

const fromHere = createRequire(import.meta.url)
const loaded = createRequire(fromHere.resolve('node-opcua'))('node-opcua-debug') as Partial<OpcuaDebug>
for (const name of ['setWarningLogger', 'setErrorLogger', 'make_warningLog', 'make_errorLog'] as const) {
  if (typeof loaded[name] !== 'function') throw new Error(`node-opcua-debug has no ${name} any more: update test/support/opcua-debug.ts and quiet-opcua.ts`)
}
export const opcuaDebug = loaded as OpcuaDebug
