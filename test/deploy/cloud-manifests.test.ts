/**
 * The cloud manifests (deploy/cloud/), checked without a cluster: the config in the ConfigMap is a
 * valid cloud config, every port it listens on is a named port of the Deployment's container, and
 * each Service reaches the right one — CloudHub's, which edges dial, on the LoadBalancer; the
 * kubelet stream endpoint, which only the API server calls, on a ClusterIP Service at the address
 * the config writes as every edge Node's InternalIP.
 */
import { strict as assert } from 'node:assert'
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { loadCloudConfig } from '../../cli/config.js'
import type { CloudConfig } from '../../schemas/cloud-config.js'
import { scratchDir } from '../support/resources.js'

const ROOT = resolve(import.meta.dirname, '../..')

interface Port {
  name?: string
  port?: number
  containerPort?: number
  targetPort?: string | number
}
interface Manifest {
  kind: string
  metadata: { name: string }
  spec: {
    type?: string
    clusterIP?: string
    ports?: Port[]
    template?: { spec: { automountServiceAccountToken?: boolean; containers: Array<{ ports: Port[]; volumeMounts?: Array<{ mountPath: string }> }> } }
  }
}

async function manifests(file: string): Promise<Manifest[]> {
  return parseAllDocuments(await readFile(join(ROOT, 'deploy/cloud', file), 'utf8')).map((d) => d.toJS() as Manifest)
}

async function deployedConfig(): Promise<CloudConfig> {
  const [configMap] = (await manifests('20-config.yaml')) as unknown as Array<{ data: { 'cloud.yaml': string } }>
  const dir = await scratchDir()
  try {
    const file = join(dir.path, 'cloud.yaml')
    await writeFile(file, configMap?.data['cloud.yaml'] ?? '')
    return await loadCloudConfig(file)
  } finally {
    await dir.remove()
  }
}

describe('deploy: cloud manifests', () => {
  it('the ConfigMap holds a valid cloud config with the stream endpoint', async () => {
    const config = await deployedConfig()
    assert.ok(config.streams !== undefined, '20-config.yaml has a streams: section')
    assert.ok(config.streams.advertiseAddress !== undefined, 'the API server is told where the endpoint is')
    assert.ok(config.streams.allowedNames.length > 0, 'the cluster CA issues every kubelet a client certificate: only the API server may call')
  })

  it('every port the config listens on is a named port of the container, reached by the right Service', async () => {
    const config = await deployedConfig()
    const streams = config.streams
    assert.ok(streams !== undefined)
    const [deployment] = await manifests('30-deployment.yaml')
    const pod = deployment?.spec.template?.spec
    const container = pod?.containers[0]
    assert.ok(pod !== undefined && container !== undefined)
    const named = new Map(container.ports.map((p) => [p.name, p.containerPort]))
    assert.equal(named.get('cloudhub'), config.hub.port)
    assert.equal(named.get('streams'), streams.port)
    assert.ok(config.http !== false && config.http.listen !== undefined)
    assert.equal(named.get('metrics'), Number(config.http.listen.split(':').pop()))

    const services = new Map((await manifests('40-service.yaml')).filter((m) => m.kind === 'Service').map((s) => [s.metadata.name, s]))
    const targets = (name: string): Array<string | number | undefined> => services.get(name)?.spec.ports?.map((p) => p.targetPort) ?? []
    const hub = services.get('tern-cloudhub')
    assert.equal(hub?.spec.type, 'LoadBalancer', 'edges dial CloudHub from outside the cluster')
    assert.deepEqual(targets('tern-cloudhub'), ['cloudhub'], 'the edges’ load balancer does not expose the stream endpoint')

    const endpoint = services.get('tern-streams')
    assert.equal(endpoint?.spec.type, 'ClusterIP')
    assert.deepEqual(targets('tern-streams'), ['streams'])
    assert.equal(endpoint?.spec.clusterIP, streams.advertiseAddress, 'the Nodes’ InternalIP is the Service’s address')
    assert.deepEqual(
      endpoint?.spec.ports?.map((p) => p.port),
      [streams.advertisePort ?? streams.port],
      'the Nodes’ kubeletEndpoint port is the Service’s port',
    )

    // clientCA is the service account's CA, mounted unless the pod turns that off
    assert.ok(streams.clientCA.startsWith('/var/run/secrets/kubernetes.io/serviceaccount/') || (container.volumeMounts ?? []).some((m) => streams.clientCA.startsWith(m.mountPath)))
    assert.notEqual(pod.automountServiceAccountToken, false)
  })
})
