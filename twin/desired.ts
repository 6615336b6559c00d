/**
 * Desired values of a Device spec become the twin's `expected` through a cloud-sync deal (DESIGN §5:
 * such properties are cloud-owned). Pure: builds the sync request for the properties whose twin does
 * not already expect the desired value. The versions claim a cloud write newer than the last one
 * that has seen every edge write, so the spec wins and a local change to a cloud-owned value is
 * reverted whenever the spec is applied again (at start, on every manifest or cloud resync).
 */
import type { EdgeProperty } from '../schemas/device.js'
import { twinType } from '../schemas/vocabulary.js'
import type { DeviceTwinUpdate, MsgTwin } from '../schemas/twin.js'
import { twinAt, type TwinMap } from './types.js'

export function desiredSync(properties: readonly EdgeProperty[], twins: TwinMap, now: number): DeviceTwinUpdate | undefined {
  const twin: Record<string, MsgTwin> = {}
  for (const property of properties) {
    if (property.desired === undefined) continue
    const record = twinAt(twins, property.name)
    if (record !== undefined && !record.deleted && record.expected?.value === property.desired) continue
    const seen = record?.expectedVersion ?? { cloud: 0, edge: 0 }
    twin[property.name] = {
      expected: { value: property.desired },
      expected_version: { cloud: seen.cloud + 1, edge: seen.edge },
      ...(record === undefined || record.deleted ? { metadata: { type: twinType(property.type) } } : {}),
    }
  }
  return Object.keys(twin).length === 0 ? undefined : { event_id: '', timestamp: now, twin }
}

