import { strict as assert } from 'node:assert'
import { resolveDevices } from '../../twin/device-set.js'
import { parseManifests } from '../../twin/manifests.js'

const MODEL = `
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: fan-model, namespace: default }
spec:
  protocol: modbus
  protocolConfigData: { slaveID: 1, baudRate: 9600 }
  properties:
    - name: speed
      type: INT
      accessMode: ReadWrite
      minimum: "0"
      maximum: "3000"
      visitors: { protocolName: modbus, configData: { register: HoldingRegister, offset: 0, limit: 1, scale: 1 } }
    - name: temperature
      type: FLOAT
      accessMode: ReadOnly
      unit: C
`
const DEVICE = `
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: fan-1, labels: { description: hall fan } }
spec:
  deviceModelRef: { name: fan-model }
  nodeName: edge-1
  protocol: { protocolName: modbus, configData: { slaveID: 7 } }
  properties:
    - name: speed
      desired: { value: "1200" }
      collectCycle: 1000
      visitors: { protocolName: modbus, configData: { offset: 4 } }
    - name: temperature
      collectCycle: 5000
`

describe('twin/manifests (KubeEdge v1beta1 Device and DeviceModel)', () => {
  it('parses multi-document YAML and resolves a device with its model (kubeedge-compat §3.5 merge)', () => {
    const { manifests, problems } = parseManifests('fan.yaml', `${MODEL}---${DEVICE}`)
    assert.deepEqual(problems, [])
    const { devices, problems: resolveProblems } = resolveDevices(manifests, { nodeName: 'edge-1', layout: 'name' })
    assert.deepEqual(resolveProblems, [])
    assert.deepEqual(devices, [
      {
        id: 'fan-1',
        name: 'fan-1',
        namespace: 'default',
        description: 'hall fan',
        model: 'fan-model',
        protocol: { protocolName: 'modbus', configData: { slaveID: 7, baudRate: 9600 } },
        properties: [
          {
            name: 'speed',
            type: 'INT',
            accessMode: 'ReadWrite',
            minimum: '0',
            maximum: '3000',
            desired: '1200',
            collectCycle: 1000,
            visitors: { protocolName: 'modbus', configData: { register: 'HoldingRegister', offset: 4, limit: 1, scale: 1 } },
          },
          { name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly', unit: 'C', collectCycle: 5000, visitors: { configData: {} } },
        ],
      },
    ])
  })

  it('uses <namespace>/<name> ids in the namespaced layout', () => {
    const { manifests } = parseManifests('fan.yaml', `${MODEL}---${DEVICE}`)
    assert.equal(resolveDevices(manifests, { nodeName: 'edge-1', layout: 'namespace/name' }).devices[0]?.id, 'default/fan-1')
  })

  it('skips devices bound to another node; a device without nodeName binds to this node', () => {
    const { manifests } = parseManifests('fan.yaml', `${MODEL}---${DEVICE}---${DEVICE.replace('fan-1', 'fan-2').replace('nodeName: edge-1', '')}`)
    assert.deepEqual(
      resolveDevices(manifests, { nodeName: 'edge-2', layout: 'name' }).devices.map((d) => d.id),
      ['fan-2'],
    )
  })

  it('reports schema problems with file, document index and path', () => {
    const { manifests, problems } = parseManifests('bad.yaml', `${MODEL}---\napiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: { name: Fan_1 }\nspec: { properties: [] }\n`)
    assert.equal(manifests.length, 1)
    assert.deepEqual(
      problems.map((p) => `${p.source} ${p.path} ${p.message}`),
      ['bad.yaml#1 /metadata/name must match pattern "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"', 'bad.yaml#1 /spec/deviceModelRef is required'],
    )
  })

  it('reports broken YAML instead of throwing', () => {
    const { manifests, problems } = parseManifests('broken.yaml', 'kind: Device\n  metadata: [\n')
    assert.equal(manifests.length, 0)
    assert.equal(problems.length > 0, true)
    assert.match(problems[0]?.message ?? '', /not valid YAML/)
  })

  it('names the broken document of a multi-document file by index, line and column', () => {
    const { manifests, problems } = parseManifests('broken.yaml', `${MODEL}---\nkind: Device\n  metadata: [\n---\nkind: Other\n`)
    assert.equal(manifests.length, 1)
    assert.ok(problems.length > 0)
    for (const p of problems) assert.equal(p.source, 'broken.yaml#1')
    assert.match(problems[0]?.message ?? '', /not valid YAML: .* at line \d+, column \d+/)
  })

  it('leaves out devices with a missing model, unknown or repeated properties, or colliding ids', () => {
    const other = DEVICE.replace('name: fan-1', 'name: fan-1, namespace: plant')
    const repeated = DEVICE.replace('fan-1', 'fan-3').replace('    - name: temperature', '    - name: speed\n    - name: temperature')
    const unknownProp = DEVICE.replace('fan-1', 'fan-4').replace('name: temperature', 'name: humidity')
    const { manifests } = parseManifests('x.yaml', [MODEL, DEVICE, other, repeated, unknownProp].join('---'))
    const { devices, problems } = resolveDevices(manifests, { nodeName: 'edge-1', layout: 'name' })
    assert.deepEqual(devices.map((d) => d.id), ['fan-1'])
    assert.deepEqual(
      problems.map((p) => `${p.source} ${p.path}`),
      ['plant/fan-1 /spec/deviceModelRef/name', 'default/fan-3 /spec/properties/1/name', 'default/fan-4 /spec/properties/1/name'],
    )
  })
})
