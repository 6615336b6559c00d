/**
 * Mocha root hooks (.mocharc.json `require`): node-opcua prints its warnings and errors straight to
 * the console through node-opcua-debug's loggers (certificate creation, trust failures that tests
 * provoke on purpose), which buries mocha's report. During the test run they are held per test
 * and printed only with a test that failed, where they may explain it. Its debug and trace loggers
 * are left alone: they print only when asked for with DEBUG=<file name>.
 */
import { format } from 'node:util'
import type { RootHookObject } from 'mocha'
import { opcuaDebug, type OpcuaLogger } from './opcua-debug.js'

/** Enough to explain a failure; a test that provokes thousands of warnings keeps its first ones. */
const MAX_HELD = 200

const held: string[] = []
const hold =
  (kind: string): OpcuaLogger =>
  (context, ...args) => {
    if (held.length >= MAX_HELD) return
    const { filename, callerline } = (context ?? {}) as { filename?: string; callerline?: number }
    held.push(`node-opcua ${kind} ${filename ?? '?'}:${callerline ?? '?'} ${format(...args)}`)
  }
opcuaDebug.setWarningLogger(hold('warning'))
opcuaDebug.setErrorLogger(hold('error'))

export const mochaHooks: RootHookObject = {
  afterEach(this: Mocha.Context) {
    if (this.currentTest?.state === 'failed' && held.length > 0) console.error(`--- node-opcua messages up to this failure ---\n${held.join('\n')}`)
    held.length = 0
  },
}
