/**
 * The simulated edge nodes (cloud-sim.ts) in a process of their own, so their CPU is measured
 * apart from the API emulator's and neither slows the other's event loop. The bench drives it
 * over the IPC channel: `fork()` here, the command loop below when this file is the child.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { EdgeSimulator, type SimCounters, type SimOptions } from './cloud-sim.js'
import { percentiles, type LatencyResult } from './phases.js'

type Command =
  | { cmd: 'start'; options: SimOptions }
  | { cmd: 'resynced' }
  | { cmd: 'load'; rate: number }
  | { cmd: 'record'; on: boolean }
  | { cmd: 'counters' }
  | { cmd: 'latency' }
  | { cmd: 'stop' }

interface Reply {
  id: number
  ok: boolean
  value?: unknown
  error?: string
}

export interface EdgeSimulatorProcess {
  readonly pid: number
  start(options: SimOptions): Promise<void>
  /** resolves when every node has acknowledged a resync on its current session */
  resynced(): Promise<void>
  load(rate: number): Promise<void>
  record(on: boolean): Promise<void>
  counters(): Promise<SimCounters>
  /** percentiles of report → answer, ms, over what was recorded */
  latency(): Promise<LatencyResult['latencyMs'] & { samples: number }>
  /** stops the nodes and the process */
  stop(): Promise<void>
}

/** Forks the simulator process (with the tsx loader this process runs under). */
export function forkEdgeSimulator(): EdgeSimulatorProcess {
  const child: ChildProcess = fork(import.meta.filename, ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  let next = 0
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  let gone: Error | undefined
  child.on('message', (raw) => {
    const reply = raw as Reply
    const w = waiting.get(reply.id)
    waiting.delete(reply.id)
    if (reply.ok) w?.resolve(reply.value)
    else w?.reject(new Error(`edge simulator: ${reply.error ?? 'failed'}`))
  })
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      gone = new Error(`the edge simulator exited (${code ?? signal ?? '?'})`)
      for (const w of waiting.values()) w.reject(gone)
      waiting.clear()
      resolve()
    }),
  )
  const call = <T>(command: Command): Promise<T> => {
    if (gone !== undefined) return Promise.reject(gone)
    const id = ++next
    return new Promise<T>((resolve, reject) => {
      waiting.set(id, { resolve: (v) => resolve(v as T), reject })
      child.send({ id, ...command })
    })
  }
  return {
    pid: child.pid as number,
    start: (options) => call({ cmd: 'start', options }),
    resynced: () => call({ cmd: 'resynced' }),
    load: (rate) => call({ cmd: 'load', rate }),
    record: (on) => call({ cmd: 'record', on }),
    counters: () => call({ cmd: 'counters' }),
    latency: () => call({ cmd: 'latency' }),
    stop: async () => {
      if (gone === undefined) {
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await call({ cmd: 'stop' }).catch(() => undefined)
        clearTimeout(kill)
      }
      await exited
    },
  }
}

function serve(): void {
  let sim: EdgeSimulator | undefined
  const need = (): EdgeSimulator => {
    if (sim === undefined) throw new Error('not started')
    return sim
  }
  const run = async (c: Command): Promise<unknown> => {
    switch (c.cmd) {
      case 'start':
        sim = new EdgeSimulator(c.options)
        return sim.start()
      case 'resynced':
        return need().whenResynced()
      case 'load':
        return need().load(c.rate)
      case 'record':
        return need().record(c.on)
      case 'counters':
        return need().counters()
      case 'latency': {
        const samples = need().samples()
        return { ...percentiles(samples), samples: samples.length }
      }
      case 'stop':
        await sim?.stop()
        setImmediate(() => process.exit(0))
        return undefined
    }
  }
  process.on('message', (raw) => {
    const { id, ...command } = raw as Command & { id: number }
    run(command).then(
      (value) => process.send?.({ id, ok: true, value } satisfies Reply),
      (err: unknown) => process.send?.({ id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies Reply),
    )
  })
  // The bench went away (killed, or stopped on a signal): so do the nodes.
  process.on('disconnect', () => process.exit(0))
}

if (process.argv[2] === '--child' && process.send !== undefined) serve()
