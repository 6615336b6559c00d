/** Ports from the OS, scratch directories and child processes, each cleaned up by whoever made it. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A TCP port that was free a moment ago (the OS chose it). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export async function scratchDir(prefix = 'tern-test-'): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: () => rm(path, { recursive: true, force: true }) }
}

export interface Child {
  readonly process: ChildProcess
  readonly pid: number
  /** Everything the process wrote on stdout and stderr so far. */
  output(): string
  /** Resolves with the first output line for which `test` is true. */
  waitForLine(test: (line: string) => boolean, timeoutMs?: number): Promise<string>
  /** Resolves when the process has exited (immediately if it already has). */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>
  kill9(): Promise<void>
}

const STDIO_GRACE_MS = 2000

/** Spawns a process we own; we only ever signal it by its own PID. */
export function startChild(command: string, args: readonly string[], options: SpawnOptions = {}): Child {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
  if (child.pid === undefined) throw new Error(`cannot spawn ${command}`)
  const pid = child.pid
  let text = ''
  const lineWaiters = new Set<() => void>()
  const onData = (chunk: Buffer): void => {
    text += chunk.toString('utf8')
    for (const wake of lineWaiters) wake()
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  // 'exit' can come before the pipes have given their last output: the exit counts once they are
  // closed too, or STDIO_GRACE_MS after it when a process the child started still holds them.
  let gone = false
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  const exitedPromise = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      gone = true
      const settle = (): void => {
        clearTimeout(timer)
        if (exit !== undefined) return
        exit = { code, signal }
        for (const wake of lineWaiters) wake()
        resolve(exit)
      }
      const timer = setTimeout(settle, STDIO_GRACE_MS)
      child.once('close', settle)
    })
  })
  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    if (gone) return
    try {
      process.kill(pid, sig)
    } catch {
      // already gone
    }
    await exitedPromise
  }
  return {
    process: child,
    pid,
    output: () => text,
    waitForLine: (test, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const line = text.split('\n').find(test)
          if (line !== undefined) {
            done()
            resolve(line)
          } else if (exit !== undefined) {
            done()
            reject(new Error(`${command} exited (${JSON.stringify(exit)}) before the awaited line; output:\n${text}`))
          }
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`timed out after ${timeoutMs} ms waiting for a line from ${command}; output:\n${text}`))
        }, timeoutMs)
        const done = (): void => {
          clearTimeout(timer)
          lineWaiters.delete(check)
        }
        lineWaiters.add(check)
        check()
      }),
    exited: () => exitedPromise,
    stop: async (graceMs = 5000) => {
      if (exit !== undefined) return
      const timer = setTimeout(() => void signal('SIGKILL'), graceMs)
      await signal('SIGTERM')
      clearTimeout(timer)
    },
    kill9: () => signal('SIGKILL'),
  }
}
