/**
 * Upstream reports built from a device's marks and its current record (pure). A twin report
 * carries, for each marked property, the twin as it is now: `expected` (→ status observedDesired)
 * and `actual` (→ status reported) with their timestamps, the version vectors and `metadata.type`
 * (`deleted` for a twin deleted at the edge). One report per device and kind at a time.
 */
import { message, reportResource, Sources, type Envelope, type StateReport, type TwinReport } from '../messages.js'
import type { MsgTwin } from '../../schemas/twin.js'
import { toMsgTwin } from '../../twin/snapshot.js'
import type { DeviceRecord } from '../../twin/stored-device.js'
import { twinAt } from '../../twin/types.js'
import type { MarkSnapshot } from './outbox-marks.js'

/** Group of upstream device reports (KubeEdge routes source `twin` to the DeviceController). */
export const REPORT_GROUP = 'twin'

export interface Report {
  readonly message: Envelope | undefined
  /** the marks this report settles once acknowledged (also when there was nothing left to send) */
  readonly sent: MarkSnapshot
}

/**
 * The next report for a device: its twins if any is marked, else its state. `message` is
 * undefined when the marks name nothing that still exists (they are settled without sending).
 */
export function nextReport(record: DeviceRecord, marks: MarkSnapshot, now: number, newEventId: () => string): Report {
  const { namespace, name } = record.spec
  if (marks.twins.size > 0) {
    const twin: Record<string, MsgTwin> = {}
    for (const key of [...marks.twins.keys()].sort()) {
      const stored = twinAt(record.twins, key)
      if (stored !== undefined) twin[key] = toMsgTwin(stored, { versions: true })
    }
    const sent = { twins: marks.twins, state: undefined }
    if (Object.keys(twin).length === 0) return { message: undefined, sent }
    const content: TwinReport = { event_id: newEventId(), timestamp: now, twin }
    return { message: report('twin', namespace, name, content), sent }
  }
  const content: StateReport = { state: record.state, ...(record.lastOnline === undefined ? {} : { lastOnline: record.lastOnline }) }
  return { message: report('state', namespace, name, content), sent: { twins: new Map(), state: marks.state } }
}

function report(kind: 'twin' | 'state', namespace: string, name: string, content: TwinReport | StateReport): Envelope {
  return message({ source: Sources.edge, group: REPORT_GROUP, operation: 'update', resource: reportResource(kind, namespace, name) }, content)
}
