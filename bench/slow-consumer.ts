/**
 * DESIGN.md §8: with one subscriber stalled, other clients' p99 round trip stays within 2 × the
 * unloaded figure. On each broker, the same latency phase (fan-in QoS 1 at a fixed rate) runs
 * twice: once unloaded, once while a subscriber to `bench/#` at QoS 1 reads nothing, after its
 * kernel buffers and the broker's own were filled with FILL_MESSAGES × FILL_BYTES. The stalled
 * subscriber matches every message of the phase, so the broker has to hold or drop each one for it.
 * Both phases stay well inside tern's 30 s stall timeout, so the subscriber is still connected.
 */
import { Connection } from './connection.js'
import { PUBACK, publishTemplate } from './mqtt-wire.js'
import { latencyPhase, round, type LatencyResult, type PhaseLoad } from './phases.js'
import { rssMiB, type BrokerName, type BrokerProcess } from './servers.js'

/** 400 × 64 KiB = 25 MiB: more than loopback's kernel buffers and the broker's 1 MiB hold. */
const FILL_MESSAGES = 400
const FILL_BYTES = 64 * 1024
const FILL_TIMEOUT_MS = 30_000

export interface SlowConsumerResult {
  bench: 'broker'
  case: 'slow-consumer'
  broker: BrokerName
  scenario: PhaseLoad['scenario']
  qos: PhaseLoad['qos']
  targetMsgPerSec: number
  unloaded: LatencyResult['latencyMs']
  stalled: LatencyResult['latencyMs']
  /** stalled p99 / unloaded p99; DESIGN.md §8 target ≤ 2 */
  p99Ratio: number
  target: 2
  meetsTarget: boolean
  /** ms until the broker acknowledged all the fill messages (another client's view of the stall) */
  fillAckMs: number
  lost: { unloaded: number; stalled: number }
  brokerRssMiB: { unloaded: number; stalled: number }
}

export async function slowConsumerCase(b: BrokerProcess, load: PhaseLoad, msgPerSec: number, warmupMs: number, durationMs: number): Promise<SlowConsumerResult> {
  const unloaded = await latencyPhase(b.port, b.pid, load, msgPerSec, warmupMs, durationMs)
  const unloadedRss = rssMiB(b.pid)
  const stalled = await Connection.open(b.port, `stalled-${b.name}`)
  try {
    await stalled.subscribe('bench/#', 1)
    stalled.socket.pause()
    const fillAckMs = await fill(b.port)
    const during = await latencyPhase(b.port, b.pid, load, msgPerSec, warmupMs, durationMs)
    const p99Ratio = round(during.latencyMs.p99 / unloaded.latencyMs.p99, 2)
    return {
      bench: 'broker',
      case: 'slow-consumer',
      broker: b.name,
      scenario: load.scenario,
      qos: load.qos,
      targetMsgPerSec: Math.round(msgPerSec),
      unloaded: unloaded.latencyMs,
      stalled: during.latencyMs,
      p99Ratio,
      target: 2,
      meetsTarget: p99Ratio <= 2,
      fillAckMs: Math.round(fillAckMs),
      lost: { unloaded: unloaded.lost, stalled: during.lost },
      brokerRssMiB: { unloaded: unloadedRss, stalled: rssMiB(b.pid) },
    }
  } finally {
    stalled.socket.destroy()
  }
}

/** Publishes the fill at QoS 1 from its own connection; resolves with ms until every PUBACK came. */
async function fill(port: number): Promise<number> {
  const conn = await Connection.open(port, `fill-${Date.now()}`)
  try {
    const template = publishTemplate('bench/fill', 1, FILL_BYTES)
    const started = performance.now()
    const acked = new Promise<void>((resolve, reject) => {
      let count = 0
      conn.handle(
        (type) => {
          if (type === PUBACK && ++count === FILL_MESSAGES) resolve()
        },
        () => undefined,
        reject,
      )
      setTimeout(() => reject(new Error(`${FILL_MESSAGES - count} of ${FILL_MESSAGES} fill messages unacknowledged after ${FILL_TIMEOUT_MS} ms`)), FILL_TIMEOUT_MS).unref()
    })
    for (let id = 1; id <= FILL_MESSAGES; id++) {
      const packet = Buffer.from(template.bytes)
      packet.writeUInt16BE(id, template.messageIdAt)
      conn.socket.write(packet)
    }
    await acked
    return performance.now() - started
  } finally {
    await conn.close()
  }
}
