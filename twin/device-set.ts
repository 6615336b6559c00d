/**
 * The node's devices resolved from Device and DeviceModel objects, wherever they came from: a
 * manifest directory (manifests.ts, which parses YAML) or the cloud link (cloud-sync/edge), which
 * must not load a YAML parser for it. Pure functions.
 */
import type { Device, DeviceModel, DeviceProperty, EdgeDevice, EdgeProperty, ModelProperty } from '../schemas/device.js'
import type { Problem } from '../schemas/validate.js'

/** A Device or DeviceModel object, from a manifest file or from the cloud. */
export type Manifest = { kind: 'Device'; doc: Device } | { kind: 'DeviceModel'; doc: DeviceModel }

export interface ManifestProblem extends Problem {
  /** `file#index` of the YAML document, or the device key for resolution problems. */
  source: string
}

export type TopicLayout = 'name' | 'namespace/name'

export function deviceId(layout: TopicLayout, namespace: string, name: string): string {
  return layout === 'name' ? name : `${namespace}/${name}`
}

/**
 * The devices bound to `nodeName` (a local manifest without `spec.nodeName` binds to this node),
 * each resolved with its model. A device whose model is missing, whose property names repeat or
 * are not in the model, or whose id collides with another's is reported and left out; devices
 * bound to another node are left out and listed in `elsewhere`.
 */
export function resolveDevices(
  manifests: readonly Manifest[],
  options: { nodeName: string; layout: TopicLayout },
): { devices: EdgeDevice[]; problems: ManifestProblem[]; elsewhere: Array<{ source: string; nodeName: string }> } {
  const models = new Map<string, DeviceModel>()
  for (const m of manifests) if (m.kind === 'DeviceModel') models.set(`${m.doc.metadata.namespace}/${m.doc.metadata.name}`, m.doc)

  const devices = new Map<string, EdgeDevice>()
  const problems: ManifestProblem[] = []
  const elsewhere: Array<{ source: string; nodeName: string }> = []
  for (const m of manifests) {
    if (m.kind !== 'Device') continue
    const { metadata, spec } = m.doc
    const source = `${metadata.namespace}/${metadata.name}`
    if (spec.nodeName !== undefined && spec.nodeName !== '' && spec.nodeName !== options.nodeName) {
      elsewhere.push({ source, nodeName: spec.nodeName })
      continue
    }
    const model = models.get(`${metadata.namespace}/${spec.deviceModelRef.name}`)
    if (model === undefined) {
      problems.push({ source, path: '/spec/deviceModelRef/name', message: `DeviceModel ${spec.deviceModelRef.name} not found in namespace ${metadata.namespace}` })
      continue
    }
    const resolved = resolveDevice(m.doc, model, deviceId(options.layout, metadata.namespace, metadata.name))
    if (!resolved.ok) {
      problems.push(...resolved.problems.map((p) => ({ ...p, source })))
      continue
    }
    if (devices.has(resolved.device.id)) {
      problems.push({ source, path: '/metadata/name', message: `device id ${resolved.device.id} is used twice (set the node's topic layout to namespace/name)` })
      continue
    }
    devices.set(resolved.device.id, resolved.device)
  }
  return { devices: [...devices.values()], problems, elsewhere }
}

function resolveDevice(device: Device, model: DeviceModel, id: string): { ok: true; device: EdgeDevice } | { ok: false; problems: Problem[] } {
  const problems: Problem[] = []
  const modelProps = new Map((model.spec.properties ?? []).map((p) => [p.name, p]))
  const seen = new Set<string>()
  const properties: EdgeProperty[] = []
  ;(device.spec.properties ?? []).forEach((prop, i) => {
    if (seen.has(prop.name)) problems.push({ path: `/spec/properties/${i}/name`, message: `property ${prop.name} is declared twice` })
    seen.add(prop.name)
    const mp = modelProps.get(prop.name)
    if (mp === undefined) {
      problems.push({ path: `/spec/properties/${i}/name`, message: `property ${prop.name} is not in DeviceModel ${model.metadata.name}` })
      return
    }
    const desired = prop.desired?.value
    properties.push({
      name: prop.name,
      type: mp.type,
      accessMode: mp.accessMode ?? 'ReadWrite',
      ...optional({ minimum: mp.minimum, maximum: mp.maximum, unit: mp.unit, description: mp.description }),
      ...optional({ desired: desired === '' ? undefined : desired, collectCycle: prop.collectCycle, reportCycle: prop.reportCycle, reportToCloud: prop.reportToCloud }),
      visitors: visitorsOf(mp, prop),
    })
  })
  if (problems.length > 0) return { ok: false, problems }
  const protocolName = device.spec.protocol?.protocolName ?? model.spec.protocol ?? ''
  return {
    ok: true,
    device: {
      id,
      name: device.metadata.name,
      namespace: device.metadata.namespace,
      ...optional({ description: device.metadata.labels?.description }),
      model: model.metadata.name,
      protocol: { protocolName, configData: { ...model.spec.protocolConfigData, ...device.spec.protocol?.configData } },
      properties,
    },
  }
}

/** §3.5: the model's visitors first, instance configData keys win (shallow merge). */
function visitorsOf(mp: ModelProperty, prop: DeviceProperty): EdgeProperty['visitors'] {
  const protocolName = mp.visitors?.protocolName ?? prop.visitors?.protocolName
  const configData = { ...mp.visitors?.configData, ...prop.visitors?.configData }
  // Not `{ ...optional({ protocolName }), configData }`: on Node 20 an object spread followed by a
  // new key gets a hidden class of its own, ~150 bytes for each of 1,000 devices' properties.
  return protocolName === undefined ? { configData } : { protocolName, configData }
}

/** Drops undefined values so optional keys are absent, not `undefined` (JSON output stays exact). */
function optional<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>
}
