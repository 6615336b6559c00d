/**
 * Pure logic of the upstream controller: folding edge reports into a device's pending status, and
 * the merge patch that writes it (kubeedge-compat.md §4.2, on the v1.15–v1.22 `Device.status`
 * layout DESIGN.md §5 uses).
 *
 * - Only twins of declared properties (`spec.properties[].name`) are written; others are ignored.
 * - `actual` → `reported`, `expected` → `observedDesired`, each `{value, metadata: {timestamp:
 *   <ms as decimal string>, type}}`; a side absent from the report keeps its current value.
 * - A twin the edge reports with `metadata.type: "deleted"` is removed from `status.twins`.
 * - A merge patch replaces arrays, so the patch carries the whole `status.twins` list: the current
 *   one (filtered to declared properties) overlaid with the pending twins, in spec order.
 * - State: `status.state`, and `status.lastOnlineTime` only when the edge sent a non-empty one.
 */
import type { Device, DeviceStatus } from '../../schemas/device.js'
import type { StateReport, TwinReport } from '../messages.js'

type StatusTwin = NonNullable<DeviceStatus['twins']>[number]
type TwinSide = NonNullable<StatusTwin['reported']>

export interface TwinOverlay {
  reported?: TwinSide
  observedDesired?: TwinSide
  /** deleted at the edge: removed from status */
  deleted?: boolean
}

export interface PendingStatus {
  twins: Map<string, TwinOverlay>
  state?: string
  lastOnlineTime?: string
}

export function emptyPending(): PendingStatus {
  return { twins: new Map() }
}

/** Declared property names of a device, in spec order. */
export function declaredProperties(device: Device): string[] {
  return (device.spec.properties ?? []).map((p) => p.name)
}

/**
 * Folds a twin report into `pending` (newer wins per side). `typeOf` gives the twin type to use
 * when the edge sent none (from the model). Returns how many twins were taken.
 */
export function foldTwinReport(pending: PendingStatus, report: TwinReport, declared: ReadonlySet<string>, typeOf: (property: string) => string | undefined): number {
  let taken = 0
  for (const [name, twin] of Object.entries(report.twin)) {
    if (!declared.has(name)) continue
    taken++
    if (twin.metadata?.type === 'deleted') {
      pending.twins.set(name, { deleted: true })
      continue
    }
    const previous = pending.twins.get(name)
    const entry: TwinOverlay = previous === undefined || previous.deleted === true ? {} : { ...previous }
    const type = twin.metadata?.type ?? typeOf(name)
    const side = (value: { value: string; metadata?: { timestamp?: number } }): TwinSide => ({
      value: value.value,
      metadata: { timestamp: String(value.metadata?.timestamp ?? report.timestamp), ...(type === undefined ? {} : { type }) },
    })
    if (twin.actual !== undefined) entry.reported = side(twin.actual)
    if (twin.expected !== undefined) entry.observedDesired = side(twin.expected)
    pending.twins.set(name, entry)
  }
  return taken
}

export function foldStateReport(pending: PendingStatus, report: StateReport): void {
  pending.state = report.state
  if (report.lastOnline !== undefined && report.lastOnline !== '') pending.lastOnlineTime = report.lastOnline
}

/** Merges `older` under `newer` (a failed write going back into the queue behind newer reports). */
export function mergePending(older: PendingStatus, newer: PendingStatus | undefined): PendingStatus {
  if (newer === undefined) return older
  const twins = new Map(older.twins)
  for (const [name, overlay] of newer.twins) {
    const under = twins.get(name)
    twins.set(name, overlay.deleted === true || under === undefined || under.deleted === true ? overlay : { ...under, ...overlay })
  }
  const state = newer.state ?? older.state
  const lastOnlineTime = newer.lastOnlineTime ?? older.lastOnlineTime
  return { twins, ...(state === undefined ? {} : { state }), ...(lastOnlineTime === undefined ? {} : { lastOnlineTime }) }
}

/** The body of the merge patch on `devices/<name>/status`; undefined when there is nothing to write. */
export function statusPatch(current: DeviceStatus | undefined, declared: readonly string[], pending: PendingStatus): { status: DeviceStatus } | undefined {
  const status: DeviceStatus = {}
  if (pending.twins.size > 0) {
    const byName = new Map<string, StatusTwin>()
    for (const t of current?.twins ?? []) if (declared.includes(t.propertyName)) byName.set(t.propertyName, t)
    for (const [name, overlay] of pending.twins) {
      if (overlay.deleted === true) {
        byName.delete(name)
        continue
      }
      const base = byName.get(name)
      const reported = overlay.reported ?? base?.reported
      const observedDesired = overlay.observedDesired ?? base?.observedDesired
      byName.set(name, { propertyName: name, ...(reported === undefined ? {} : { reported }), ...(observedDesired === undefined ? {} : { observedDesired }) })
    }
    status.twins = [...new Set(declared)].flatMap((name) => {
      const t = byName.get(name)
      return t === undefined ? [] : [t]
    })
  }
  if (pending.state !== undefined) status.state = pending.state
  if (pending.lastOnlineTime !== undefined) status.lastOnlineTime = pending.lastOnlineTime
  return Object.keys(status).length === 0 ? undefined : { status }
}
