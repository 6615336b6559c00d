/**
 * What the web view shows of one device, built from the twin's record: pure, no I/O. A property is
 * settable from the page when the user's ACL lets it publish the device's `twin/update`, the model
 * does not say ReadOnly, and the spec carries no desired value (a cloud-owned property: the cloud
 * would revert a local change, DESIGN.md §5).
 */
import type { EdgeDevice } from '../schemas/device.js'
import type { DeviceRecord } from '../twin/stored-device.js'
import type { DeviceView, PropertyView } from './view-types.js'

export type { DeviceView, PropertyView, SideView } from './view-types.js'

const NUMERIC = new Set(['int', 'float', 'double'])

export function isNumericType(type: string | undefined): boolean {
  return type !== undefined && NUMERIC.has(type.toLowerCase())
}

export function deviceView(key: string, record: DeviceRecord, canSet: boolean): DeviceView {
  const { spec } = record
  const props = new Map(spec.properties.map((p) => [p.name, p]))
  const names = [...new Set([...spec.properties.map((p) => p.name), ...Object.keys(record.twins).filter((k) => record.twins[k]?.deleted === false)])]
  return {
    key,
    name: spec.name,
    namespace: spec.namespace,
    model: spec.model,
    protocol: spec.protocol.protocolName,
    state: record.state,
    ...(record.lastOnline === undefined ? {} : { lastOnline: record.lastOnline }),
    properties: names.map((name) => propertyView(name, props.get(name), record, canSet)),
  }
}

function propertyView(name: string, spec: EdgeDevice['properties'][number] | undefined, record: DeviceRecord, canSet: boolean): PropertyView {
  const twin = Object.hasOwn(record.twins, name) ? record.twins[name] : undefined
  const live = twin !== undefined && !twin.deleted ? twin : undefined
  const type = spec?.type ?? live?.type ?? 'string'
  const accessMode = spec?.accessMode ?? 'ReadWrite'
  const owner = spec?.desired === undefined ? 'edge' : 'cloud'
  return {
    name,
    type,
    accessMode,
    ...(spec?.minimum === undefined ? {} : { minimum: spec.minimum }),
    ...(spec?.maximum === undefined ? {} : { maximum: spec.maximum }),
    ...(spec?.unit === undefined ? {} : { unit: spec.unit }),
    owner,
    settable: canSet && owner === 'edge' && accessMode !== 'ReadOnly',
    numeric: isNumericType(type),
    ...(live?.expected === undefined ? {} : { expected: { value: live.expected.value, at: live.expected.timestamp } }),
    ...(live?.actual === undefined ? {} : { actual: { value: live.actual.value, at: live.actual.timestamp } }),
  }
}
