/**
 * Edged's `api` pod source (edged/sources/cloud.ts) over the edge's real store of cloud objects
 * (WorkloadSync on memory-level, fed the messages CloudHub sends): edged gets the node's pods
 * again when a pod changed, and not for a ConfigMap or Secret change alone — those reach the pods'
 * volumes through edged's volume refresh, and each whole set handed to edged costs a relist of
 * every pod.
 */
import assert from 'node:assert/strict'
import { MemoryLevel } from 'memory-level'
import { pino } from 'pino'
import { message, Operations, Sources, WORKLOAD_RESYNC_RESOURCE } from '../../cloud-sync/messages.js'
import { WorkloadSync } from '../../cloud-sync/edge/workload-sync.js'
import { Session, wirePair } from '../../cloud-sync/session.js'
import { validatePod } from '../../edged/pod/validate.js'
import { CloudPodSource } from '../../edged/sources/cloud.js'
import type { AnyLevel } from '../../twin/store.js'
import { RESOURCE_GROUP } from '../../cloud-sync/cloud/downlink.js'

const NODE = 'n1'
const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'app', namespace: 'default', uid: 'u1', resourceVersion: '1' }, spec: { nodeName: NODE, containers: [{ name: 'app', image: 'busybox', volumeMounts: [{ name: 's', mountPath: '/s' }] }], volumes: [{ name: 's', secret: { secretName: 'hot' } }] } }
const secret = (v: string, rv: string): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hot', namespace: 'default', resourceVersion: rv }, data: { token: Buffer.from(v).toString('base64') } })

describe('edged: the api pod source and cloud object changes', () => {
  it('a Secret changed 20 times hands edged no pod set; a pod change does', async () => {
    const db = new MemoryLevel({ valueEncoding: 'json' }) as unknown as AnyLevel
    const store = new WorkloadSync({ db, nodeName: NODE, fsync: false, log: pino({ level: 'silent' }) })
    await store.start()
    const sets: number[] = []
    const source = new CloudPodSource({ store, validate: validatePod, log: pino({ level: 'silent' }) })
    await source.start((pods) => void sets.push(pods.length))
    const changes: string[] = []
    store.onChange((changed) => void changes.push(changed.map((c) => `${c.kind}/${c.name}`).join(',')))
    // the cloud side of a session pair sends what CloudHub would, and waits for each answer
    const [cloudWire, edgeWire] = wirePair()
    const log = pino({ level: 'silent' })
    const cloudSide = new Session(cloudWire, { node: NODE, source: Sources.hub, log, resendMs: 60_000 })
    store.attach(new Session(edgeWire, { node: NODE, source: Sources.edge, log, resendMs: 60_000 }))
    const receive = async (operation: string, resource: string, content: unknown): Promise<void> => {
      const answer = await cloudSide.request(message({ source: Sources.cloud, group: RESOURCE_GROUP, operation, resource }, content))
      assert.notEqual(answer.route.operation, Operations.error, JSON.stringify(answer.content))
    }
    await receive(Operations.resync, WORKLOAD_RESYNC_RESOURCE, { pods: [pod], configmaps: [], secrets: [secret('v0', '1')] })
    assert.deepEqual(sets, [1], 'the resync brought a pod')
    for (let i = 1; i <= 20; i++) await receive(Operations.update, 'default/secret/hot', secret(`v${i}`, String(i + 1)))
    assert.equal(changes.length, 21, 'every Secret change reached the store listeners')
    assert.deepEqual(changes.at(-1), 'secret/hot')
    assert.deepEqual(sets, [1], 'no pod set handed to edged for Secret changes')
    await receive(Operations.update, 'default/pod/app', { ...pod, metadata: { ...pod.metadata, resourceVersion: '30', labels: { a: 'b' } } })
    assert.deepEqual(sets, [1, 1], 'a pod change hands edged the set')
    cloudSide.close()
    await store.stop()
    await db.close()
  })
})
