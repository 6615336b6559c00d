/**
 * Where the load generator itself saturates: the same generator against bench/null-broker.ts,
 * which drops what it is sent and streams messages to subscribers at no cost worth counting. The
 * rates here are the generator's ceilings on this machine; a broker result close to them says
 * more about the generator than about the broker.
 */
import { resolve } from 'node:path'
import { Load } from './load.js'
import { cpuBetween, measure, type CpuUse, type PhaseLoad } from './phases.js'
import { startOwned } from './servers.js'

const NULL_BROKER = resolve(import.meta.dirname, 'null-broker.ts')

export interface Ceiling {
  qos: 0 | 1
  /** Messages the generator publishes per second (fan-in, broker drops them). */
  publishMsgPerSec: number
  publishCpu: CpuUse
  /** Messages the generator's subscribers parse (and acknowledge at QoS 1) per second. */
  receiveMsgPerSec: number
  receiveCpu: CpuUse
}

async function withNullBroker<T>(mode: 'sink' | 'source', payloadBytes: number, fn: (port: number, pid: number) => Promise<T>): Promise<T> {
  const child = startOwned(process.execPath, ['--import', 'tsx', NULL_BROKER, mode, String(payloadBytes)])
  try {
    const line = await child.waitForLine((l) => l.startsWith('listening '))
    return await fn(Number(line.split(' ')[1]), child.pid)
  } finally {
    await child.stop()
  }
}

export async function generatorCeiling(opts: PhaseLoad, qos: 0 | 1, warmupMs: number, durationMs: number): Promise<Ceiling> {
  const publish = await withNullBroker('sink', opts.payloadBytes, async (port, pid) => {
    const load = await Load.open({ ...opts, qos, scenario: 'fan-in', window: Infinity, port, tag: 'cal' })
    try {
      const { done, stop } = measure(load, pid, warmupMs, durationMs)
      await load.saturate(stop)
      const [a, b] = await done
      return { rate: Math.round((b.sent - a.sent) / ((b.at - a.at) / 1000)), cpu: cpuBetween(a, b) }
    } finally {
      await load.close()
    }
  })
  const receive = await withNullBroker('source', opts.payloadBytes, async (port, pid) => {
    const load = await Load.open({ ...opts, qos, scenario: 'fan-out', port, tag: 'cal' })
    try {
      const { done, stop } = measure(load, pid, warmupMs, durationMs)
      await stop
      const [a, b] = await done
      return { rate: Math.round((b.received - a.received) / ((b.at - a.at) / 1000)), cpu: cpuBetween(a, b) }
    } finally {
      await load.close()
    }
  })
  return { qos, publishMsgPerSec: publish.rate, publishCpu: publish.cpu, receiveMsgPerSec: receive.rate, receiveCpu: receive.cpu }
}
