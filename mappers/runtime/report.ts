/**
 * What the mapper publishes for a device: actual values on `.../twin/update` and the device state
 * on `.../state/update` (kubeedge-compat.md §1.4 #1, #8; §6.10). A value is reported when it
 * changed since the last report or when the heartbeat interval has passed since it was last
 * reported, so the twin and the cloud see a live device without a message per poll.
 */
import type { EdgeProperty } from '../../schemas/device.js'
import { twinType } from '../../schemas/vocabulary.js'
import type { DeviceState, DeviceStateUpdate, DeviceTwinUpdate, MsgTwin } from '../../schemas/twin.js'

/** The states the runtime reports (a subset of the twin's). */
export type MapperDeviceState = Extract<DeviceState, 'online' | 'offline' | 'unhealthy'>

export class ReportedValues {
  readonly #last = new Map<string, { value: string; at: number }>()
  readonly #heartbeatMs: number

  /** `heartbeatMs` 0 turns the heartbeat off: only changes are reported. */
  constructor(heartbeatMs: number) {
    this.#heartbeatMs = heartbeatMs
  }

  /** The subset of `values` to report at `now` (changed, or heartbeat due); marks them reported. */
  take(values: ReadonlyMap<string, string>, now: number): Map<string, string> {
    const out = new Map<string, string>()
    for (const [name, value] of values) {
      const last = this.#last.get(name)
      const beat = this.#heartbeatMs > 0 && last !== undefined && now - last.at >= this.#heartbeatMs
      if (last === undefined || last.value !== value || beat) {
        out.set(name, value)
        this.#last.set(name, { value, at: now })
      }
    }
    return out
  }

  /** Marks `values` reported at `now` whatever they were (a read-back after a write is always reported). */
  force(values: ReadonlyMap<string, string>, now: number): Map<string, string> {
    for (const [name, value] of values) this.#last.set(name, { value, at: now })
    return new Map(values)
  }
}

/** One `.../twin/update` with every reported property: `{"twin":{"p":{"actual":{"value":"…"},"metadata":{"type":"int"}}}}`. */
export function twinReport(values: ReadonlyMap<string, string>, properties: readonly EdgeProperty[], now: number): DeviceTwinUpdate {
  const types = new Map(properties.map((p) => [p.name, p.type]))
  const twin: Record<string, MsgTwin> = {}
  for (const [name, value] of values) {
    const type = types.get(name)
    twin[name] = { actual: { value }, ...(type === undefined ? {} : { metadata: { type: twinType(type) } }) }
  }
  return { event_id: '', timestamp: now, twin }
}

export function stateReport(state: MapperDeviceState, now: number): DeviceStateUpdate {
  return { event_id: '', timestamp: now, state }
}
