/**
 * The emulator's RBAC slice and deploy/cloud/10-rbac.yaml: a token bound to tern cloud's
 * ClusterRole may list, watch and get Devices and DeviceModels and patch Device status, read pods,
 * patch their status and create or patch Events, and nothing else (least privilege). Checked with the real kubectl.
 */
import assert from 'node:assert/strict'
import { request } from 'node:https'
import { join, resolve } from 'node:path'
import { kubectlFor } from '../support/kube/kubectl.js'
import { ternCloudRules } from '../support/kube/rbac.js'
import { startKubeEmulator } from '../support/kube/server.js'
import { makeTestPki } from '../support/pki.js'
import { scratchDir } from '../support/resources.js'

const root = resolve(import.meta.dirname, '../..')

describe('Kubernetes API emulator: RBAC with tern cloud’s ClusterRole (deploy/cloud)', function () {
  this.timeout(60_000)
  it('allows get/list/watch of devices and devicemodels and patching devices/status; forbids everything else with 403', async () => {
    const dir = await scratchDir()
    const pki = await makeTestPki(dir.path)
    const kube = await startKubeEmulator({ token: 'admin', roles: { cloud: await ternCloudRules() }, tls: { ...pki.server, ca: pki.ca } })
    try {
      const admin = await kubectlFor(kube, dir.path)
      const crds = await admin.run(['apply', '-f', join(root, 'deploy/crds')])
      assert.equal(crds.code, 0, crds.stderr)
      const model = 'apiVersion: devices.kubeedge.io/v1beta1\nkind: DeviceModel\nmetadata: { name: m, namespace: default }\nspec: { protocol: modbus }\n'
      const device = 'apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: { name: d, namespace: default }\nspec: { deviceModelRef: { name: m }, nodeName: n1 }\n'
      const created = await admin.run(['apply', '-f', '-'], `${model}---\n${device}`)
      assert.equal(created.code, 0, created.stderr)

      const cloudDir = await scratchDir()
      const kubeconfig = await kube.writeKubeconfig(join(cloudDir.path, 'kubeconfig'), 'default', 'cloud')
      const cloud = async (args: string[], stdin?: string): Promise<{ code: number; stderr: string }> => {
        const { code, stderr } = await admin.run(['--kubeconfig', kubeconfig, ...args], stdin)
        return { code, stderr }
      }
      assert.equal((await cloud(['get', 'devices', '-A'])).code, 0)
      assert.equal((await cloud(['get', 'devicemodels', 'm'])).code, 0)
      // tern cloud's status write, as it sends it (kubectl would GET the subresource first)
      const patch = (path: string): Promise<number> =>
        new Promise((resolve, reject) => {
          const req = request(`${kube.url}${path}`, { method: 'PATCH', ca: caPem, headers: { authorization: 'Bearer cloud', 'content-type': 'application/merge-patch+json' } }, (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          })
          req.on('error', reject)
          req.end(JSON.stringify({ status: { state: 'online' } }))
        })
      const caPem = await pki.read(pki.ca)
      assert.equal(await patch('/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices/d/status'), 200)
      assert.equal(await patch('/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices/d'), 403)
      // an edge node's Node: its status as a kubelet patches it, and its Lease
      assert.equal((await admin.run(['apply', '-f', '-'], 'apiVersion: v1\nkind: Node\nmetadata: { name: n1 }\n')).code, 0)
      assert.equal(await patch('/api/v1/nodes/n1/status'), 200)
      assert.equal((await cloud(['get', 'lease', 'n1', '-n', 'kube-node-lease'])).stderr.includes('NotFound'), true, 'get of a Lease is allowed (404, not 403)')
      // workloads: pods bound to edge nodes and the ConfigMaps they use are read; a terminated pod is deleted
      for (const resource of ['pods', 'configmaps']) assert.equal((await cloud(['get', resource, '-A'])).code, 0, `list of ${resource}`)
      assert.equal((await cloud(['delete', 'pod', 'gone'])).stderr.includes('NotFound'), true, 'delete of a pod is allowed (404, not 403)')
      // a pod bound to an edge node: patch its status, create and patch its Events, as a kubelet
      const pod = 'apiVersion: v1\nkind: Pod\nmetadata: { name: p, namespace: default }\nspec: { nodeName: n1, containers: [{ name: c, image: busybox }] }\n'
      assert.equal((await admin.run(['apply', '-f', '-'], pod)).code, 0)
      assert.equal(await patch('/api/v1/namespaces/default/pods/p/status'), 200)
      assert.equal(await patch('/api/v1/namespaces/default/pods/p'), 403)
      const event = 'apiVersion: v1\nkind: Event\nmetadata: { name: p.1, namespace: default }\ninvolvedObject: { kind: Pod, name: p, namespace: default }\nreason: Started\nmessage: m\ntype: Normal\n'
      assert.equal((await cloud(['create', '-f', '-'], event)).code, 0, 'create of an Event is allowed')
      assert.equal(await patch('/api/v1/namespaces/default/events/p.1'), 200)

      for (const args of [
        ['patch', 'device', 'd', '--type', 'merge', '-p', '{"spec":{"nodeName":"n2"}}'],
        ['delete', 'device', 'd'],
        ['apply', '-f', join(root, 'examples/modbus/devices/fan.yaml')],
        ['get', 'namespaces'],
        ['get', 'crds'],
        ['create', 'configmap', 'c', '--from-literal=a=b'],
        ['run', 'p', '--image', 'busybox'],
        ['delete', 'event', 'p.1'],
        ['get', 'events'],
        ['label', 'pod', 'p', 'x=y'],
        ['get', 'leases', '-n', 'kube-node-lease'],
        ['delete', 'lease', 'n1', '-n', 'kube-node-lease'],
      ]) {
        const refused = await cloud(args)
        assert.notEqual(refused.code, 0, `kubectl ${args.join(' ')} must be refused`)
        assert.match(refused.stderr, /[Ff]orbidden/, args.join(' '))
      }
      const unknown = await admin.run(['--token', 'nobody', 'get', 'devices'])
      assert.match(unknown.stderr, /Unauthorized|must be logged in/)
      await cloudDir.remove()
    } finally {
      await kube.stop()
      await dir.remove()
    }
  })
})
