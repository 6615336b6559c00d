/**
 * deploy/crds/ (DESIGN.md §5, CRDs): generated from schemas/device.ts, structural, the
 * KubeEdge field layout (kubeedge-compat.md §3), and accepted by the real kubectl.
 */
import assert from 'node:assert/strict'
import { readFile, readdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import { crdManifests, deviceCrd, deviceModelCrd, toStructural } from '../../scripts/crds.js'
import { scratchDir } from '../support/resources.js'
import { kubectlFor } from '../support/kube/kubectl.js'
import { compileValidator, structuralProblems } from '../support/kube/schema.js'
import { startKubeEmulator, type KubeEmulator } from '../support/kube/server.js'

const root = resolve(import.meta.dirname, '../..')
type Node = Record<string, unknown>

function version(crd: Node): Node {
  const versions = (crd.spec as { versions: Node[] }).versions
  assert.equal(versions.length, 1)
  return versions[0] as Node
}
const schemaOf = (crd: Node): Node => (version(crd).schema as { openAPIV3Schema: Node }).openAPIV3Schema

/** Follows `properties` (and `items` for `[]`) down a dotted path. */
function at(schema: Node, path: string): Node {
  return path.split('.').reduce<Node>((node, part) => {
    const next = part === '[]' ? node.items : (node.properties as Node | undefined)?.[part]
    assert.ok(next !== undefined, `no schema at ${path} (${part})`)
    return next as Node
  }, schema)
}

async function readCrds(): Promise<Node[]> {
  const dir = join(root, 'deploy/crds')
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()
  return Promise.all(files.map(async (f) => parse(await readFile(join(dir, f), 'utf8')) as Node))
}

describe('deploy/crds: generated, structural, KubeEdge layout, accepted by kubectl', () => {
  it('the files on disk are what the generator writes (npm run gen is up to date)', async () => {
    for (const [file, text] of Object.entries(crdManifests())) assert.equal(await readFile(join(root, file), 'utf8'), text, file)
  })

  it('names, group, version, scope and kinds follow KubeEdge (kubeedge-compat.md §3.1)', async () => {
    const crds = await readCrds()
    assert.deepEqual(crds.map((c) => (c.metadata as Node).name), ['devicemodels.devices.kubeedge.io', 'devices.devices.kubeedge.io'])
    for (const crd of crds) {
      const spec = crd.spec as Node
      assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1')
      assert.equal(spec.group, 'devices.kubeedge.io')
      assert.equal(spec.scope, 'Namespaced')
      const v = version(crd)
      assert.deepEqual([v.name, v.served, v.storage], ['v1beta1', true, true])
    }
    assert.deepEqual((deviceCrd.spec as Node).names, { kind: 'Device', listKind: 'DeviceList', plural: 'devices', singular: 'device' })
    assert.deepEqual((deviceModelCrd.spec as Node).names, { kind: 'DeviceModel', listKind: 'DeviceModelList', plural: 'devicemodels', singular: 'devicemodel' })
  })

  it('Device has a status subresource and the printer columns of DESIGN.md §5', () => {
    const v = version(deviceCrd)
    assert.deepEqual(v.subresources, { status: {} })
    const columns = (v.additionalPrinterColumns as Node[]).map((c) => [c.name, c.jsonPath])
    assert.deepEqual(columns, [
      ['Node', '.spec.nodeName'],
      ['Model', '.spec.deviceModelRef.name'],
      ['State', '.status.state'],
      ['Age', '.metadata.creationTimestamp'],
    ])
    assert.equal(version(deviceModelCrd).subresources, undefined)
  })

  it('both schemas are structural (the rules apiextensions-apiserver enforces, as far as checked)', async () => {
    for (const crd of await readCrds()) assert.deepEqual(structuralProblems(schemaOf(crd)), [], String((crd.metadata as Node).name))
  })

  it('the structural checker itself rejects what the API server rejects', () => {
    const problems = structuralProblems({
      type: 'object',
      properties: {
        metadata: { type: 'object', properties: { labels: { type: 'object' } } },
        spec: {
          type: 'object',
          properties: {
            untyped: {},
            map: { type: 'object', patternProperties: { '.*': { type: 'string' } } },
            both: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } },
            list: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' } } }, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['id'] },
            one: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
          },
        },
      },
    })
    const expected = [
      'openAPIV3Schema.properties[metadata]',
      'properties[untyped].type: Required value',
      'properties[map].patternProperties',
      'properties[both]: properties and additionalProperties',
      'x-kubernetes-list-map-keys: id must be required',
      'anyOf[0].type: must not be set',
    ]
    for (const text of expected) assert.ok(problems.some((p) => p.includes(text)), `missing "${text}" in ${JSON.stringify(problems, null, 1)}`)
    assert.throws(() => toStructural({ anyOf: [{ type: 'string' }, { type: 'null' }] }), /unions are not structural/)
  })

  it('free-form KubeEdge fields preserve unknown fields; typed maps and enums stay typed (§3.2, §3.4)', () => {
    const device = schemaOf(deviceCrd)
    for (const path of ['spec.protocol.configData', 'spec.properties.[].visitors.configData', 'spec.properties.[].pushMethod.mqtt'])
      assert.equal(at(device, path)['x-kubernetes-preserve-unknown-fields'], true, path)
    assert.deepEqual(at(device, 'spec.properties.[].desired.metadata').additionalProperties, { type: 'string' })
    assert.deepEqual(at(device, 'spec.properties.[].reportCycle'), { type: 'integer', minimum: 0, format: 'int64' })
    assert.deepEqual(at(device, 'spec').required, ['deviceModelRef'])
    assert.deepEqual(at(device, 'metadata'), { type: 'object' })
    const model = schemaOf(deviceModelCrd)
    assert.deepEqual(at(model, 'spec.properties.[].type').enum, ['INT', 'FLOAT', 'DOUBLE', 'STRING', 'BOOLEAN', 'BYTES', 'STREAM'])
    assert.deepEqual(at(model, 'spec.properties.[].accessMode').enum, ['ReadWrite', 'ReadOnly'])
    const text = JSON.stringify([device, model])
    for (const banned of ['"$schema"', '"$id"', '"const"', '"patternProperties"', '"anyOf"']) assert.ok(!text.includes(banned), banned)
  })

  it('property, method and twin lists are maps keyed by name, so names are unique (KubeEdge admission webhook)', () => {
    const device = schemaOf(deviceCrd)
    const model = schemaOf(deviceModelCrd)
    for (const [schema, path, key] of [
      [device, 'spec.properties', 'name'],
      [device, 'spec.methods', 'name'],
      [device, 'status.twins', 'propertyName'],
      [model, 'spec.properties', 'name'],
    ] as const) {
      const list = at(schema, path)
      assert.equal(list['x-kubernetes-list-type'], 'map', path)
      assert.deepEqual(list['x-kubernetes-list-map-keys'], [key], path)
    }
    const causes = compileValidator(device)({
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'Device',
      metadata: { name: 'x' },
      spec: { deviceModelRef: { name: 'm' }, properties: [{ name: 'speed' }, { name: 'speed' }] },
    })
    assert.deepEqual(causes.map((c) => [c.reason, c.field]), [['FieldValueDuplicate', 'spec.properties[1]']])
  })

  it('the example manifests validate against the CRD schemas', async () => {
    const validators: Record<string, ReturnType<typeof compileValidator>> = { Device: compileValidator(schemaOf(deviceCrd)), DeviceModel: compileValidator(schemaOf(deviceModelCrd)) }
    let seen = 0
    for (const dir of ['examples/modbus/devices', 'examples/opcua/devices', 'test/fixtures/devices']) {
      for (const file of await readdir(join(root, dir))) {
        for (const doc of parseAllDocuments(await readFile(join(root, dir, file), 'utf8'))) {
          const object = doc.toJS() as Node
          const validate = validators[String(object.kind)]
          if (validate === undefined) continue
          assert.deepEqual(validate(object), [], `${dir}/${file} ${String(object.kind)}`)
          seen++
        }
      }
    }
    assert.ok(seen >= 4, `only ${seen} manifests found`)
  })

  describe('with the real kubectl (client-side dry run still needs discovery, so against the emulator)', () => {
    let kube: KubeEmulator
    let dir: Awaited<ReturnType<typeof scratchDir>>
    before(async () => {
      kube = await startKubeEmulator()
      dir = await scratchDir('tern-crds-')
    })
    after(async () => {
      await kube.stop()
      await dir.remove()
    })

    it('kubectl apply --dry-run=client -f deploy/crds/ -o yaml parses both CRDs', async () => {
      const kubectl = await kubectlFor(kube, dir.path)
      const result = await kubectl.run(['apply', '--dry-run=client', '-f', join(root, 'deploy/crds/'), '-o', 'yaml'])
      assert.equal(result.code, 0, result.stderr)
      const list = parse(result.stdout) as { items: Node[] }
      assert.deepEqual(list.items.map((i) => (i.metadata as Node).name).sort(), ['devicemodels.devices.kubeedge.io', 'devices.devices.kubeedge.io'])
      assert.deepEqual(schemaOf(list.items.find((i) => i.kind === 'CustomResourceDefinition' && (i.metadata as Node).name === 'devices.devices.kubeedge.io') as Node), schemaOf(deviceCrd))
      assert.equal(kube.requests.filter((r) => r.method !== 'GET').length, 0, 'a client-side dry run writes nothing')
    })
  })
})
