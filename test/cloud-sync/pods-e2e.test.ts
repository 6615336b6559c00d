/**
 * Pods bound to an edge node run there, end to end with real processes (DESIGN.md §7): the API
 * emulator with tern cloud's RBAC from deploy/cloud, `tern cloud`, `tern edge` with edged on a
 * private containerd, and the real kubectl. What runs is checked from outside, through
 * containerd's CRI. `tern edge` runs in containerd's mount namespace, as on a node, so the tmpfs
 * of a secret volume is the one the container sees. Bounds are generous for a loaded machine.
 */
import { strict as assert } from 'node:assert'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { PodSnapshot } from '../../edged/status-manager.js'
import { NODE, podsWorlds, podUid, podYaml, running, SLEEPING, startPodsWorld, until } from '../support/pods-world.js'

/** Bytes that are not UTF-8 (0xff, 0xfe and 0x80 never occur in it; 0xc3 0x28 is a broken sequence). */
const BLOB = [0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x0a]
const KEY = [0x80, 0x81, 0xfe, 0x00, 0xff]

describe('pods bound to an edge node run there (real processes: emulator, tern cloud, tern edge, containerd)', function () {
  this.timeout(300_000)
  const undo = podsWorlds()

  it('kubectl apply of a pod with nodeName → its container runs at the edge with the API uid; a pod edged refuses is reported and the others run; after a restart with no cloud the pods come from the store', async () => {
    const { world, runtime, startEdge } = await startPodsWorld(undo)
    const edge = await startEdge()

    const applied = await world.kubectl.run(['apply', '-f', '-'], podYaml('web', NODE, SLEEPING))
    assert.equal(applied.code, 0, applied.stderr)
    const uid = await podUid(world, 'web')
    const [first] = await until('web running at the edge', () => running(runtime, 'web'), (c) => c.length === 1)
    assert.equal(first?.uid, uid, 'the container carries the pod uid from the API server')

    // a pod edged cannot run (a volume source it does not support): reported, the others unaffected
    const bad = podYaml('bad', NODE, SLEEPING, '  volumes:\n    - name: data\n      nfs: { server: 10.0.0.1, path: /x }\n')
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], bad)).code, 0)
    const other = podYaml('other', NODE, SLEEPING)
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], other)).code, 0)
    await until('other running at the edge', () => running(runtime, 'other'), (c) => c.length === 1)
    const refused = await edge.waitForLine((l) => l.includes('EDGED_POD_INVALID') && l.includes('default/bad'), 30_000)
    assert.match(refused, /nfs/)
    assert.deepEqual(await running(runtime, 'bad'), [])
    assert.equal((await running(runtime, 'web'))[0]?.id, first?.id, 'web untouched')

    // a pod bound to another node does not reach this one
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], podYaml('elsewhere', 'edge-other', SLEEPING))).code, 0)

    // tern edge restarted with the cloud gone: the pods come from the store (with nothing stored,
    // edged would remove the containers as owned by no pod)
    await edge.stop()
    await world.cloud.stop()
    const again = await startEdge()
    await again.waitForLine((l) => l.includes('workload objects loaded') && l.includes('"objects":3'), 30_000)
    await new Promise((r) => setTimeout(r, 3000)) // several sync periods
    assert.equal((await running(runtime, 'web'))[0]?.id, first?.id, 'web still runs, same container')
    assert.equal((await running(runtime, 'other')).length, 1)
    assert.deepEqual(await running(runtime, 'elsewhere'), [])
    const snapshot = JSON.parse(await readFile(join(world.dir, 'edge', 'data', 'edged', 'pods.json'), 'utf8')) as PodSnapshot
    assert.deepEqual(snapshot.pods.map((p) => `${p.name} ${p.uid === uid}`).sort(), ['bad false', 'other false', 'web true'])
    // the refused pod is kept as the kubelet keeps a pod its admission rejected: Failed, never run
    const badEntry = snapshot.pods.find((p) => p.name === 'bad')
    assert.equal(badEntry?.status.phase, 'Failed')
    assert.equal(badEntry?.status.reason, 'PodInvalid')
  })

  it('kubectl delete pod: SIGTERM reaches the container at the edge, then the final delete (grace 0, uid precondition) removes the object', async () => {
    const { world, runtime, startEdge } = await startPodsWorld(undo)
    await startEdge()
    const out = join(world.dir, 'term-out')
    const { mkdir } = await import('node:fs/promises')
    await mkdir(out, { recursive: true })
    const volume = `      volumeMounts: [{ name: out, mountPath: /out }]\n  volumes:\n    - name: out\n      hostPath: { path: ${out}, type: Directory }\n`
    const pod = podYaml('term', NODE, SLEEPING, volume).replace("trap 'exit 0' TERM", "trap 'echo got-TERM > /out/marker; exit 0' TERM")
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], pod)).code, 0)
    await until('term running at the edge', () => running(runtime, 'term'), (c) => c.length === 1)

    const deleted = await world.kubectl.run(['delete', 'pod', 'term', '--wait=false'])
    assert.equal(deleted.code, 0, deleted.stderr)
    await until('the pod object gone', async () => (await world.kubectl.run(['get', 'pod', 'term'])).stderr, (err) => /NotFound/.test(err))
    assert.equal((await readFile(join(out, 'marker'), 'utf8')).trim(), 'got-TERM', 'the container got SIGTERM')
    assert.deepEqual(await running(runtime, 'term'), [])
    await world.cloud.waitForLine((l) => l.includes('pod deleted after its termination at the edge') && l.includes('default/term'), 10_000)
  })

  it('ConfigMaps and Secrets: a configMap volume follows kubectl edits inside the running container, also after tern edge restarted; env from a Secret at start; binaryData and Secret bytes that are not UTF-8 reach the files byte for byte', async () => {
    const { world, runtime, startEdge } = await startPodsWorld(undo)
    const edge = await startEdge()
    const out = join(world.dir, 'cfg-out')
    const { mkdir } = await import('node:fs/promises')
    await mkdir(out, { recursive: true })
    const objects = `apiVersion: v1
kind: ConfigMap
metadata: { name: app-config, namespace: default }
data: { greeting: hello }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: unused-config, namespace: default }
data: { x: "1" }
---
apiVersion: v1
kind: Secret
metadata: { name: app-secret, namespace: default }
stringData: { token: s3cret }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: app-binary, namespace: default }
data: { text: "h\u00e9llo" }
binaryData: { blob: ${Buffer.from(BLOB).toString('base64')} }
---
apiVersion: v1
kind: Secret
metadata: { name: binary-secret, namespace: default }
data: { key: ${Buffer.from(KEY).toString('base64')} }
`
    const created = await world.kubectl.run(['apply', '-f', '-'], objects)
    assert.equal(created.code, 0, created.stderr)
    const extra = `      env: [{ name: TOKEN, valueFrom: { secretKeyRef: { name: app-secret, key: token } } }]
      volumeMounts: [{ name: cfg, mountPath: /cfg }, { name: out, mountPath: /out }, { name: bin, mountPath: /bin-cm }, { name: binsec, mountPath: /bin-secret }]
  volumes:
    - name: cfg
      configMap: { name: app-config }
    - name: bin
      configMap: { name: app-binary }
    - name: binsec
      secret: { secretName: binary-secret }
    - name: out
      hostPath: { path: ${out}, type: Directory }
`
    const copy = 'cp /bin-cm/blob /out/blob; cp /bin-cm/text /out/text; cp /bin-secret/key /out/key; '
    const pod = podYaml('reader', NODE, `${copy}while true; do cat /cfg/greeting > /out/seen.tmp; mv /out/seen.tmp /out/seen; echo "$TOKEN" > /out/token; sleep 0.2; done`, extra)
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], pod)).code, 0)
    await until('reader running at the edge', () => running(runtime, 'reader'), (c) => c.length === 1)
    const seen = (): Promise<string> => readFile(join(out, 'seen'), 'utf8').then((t) => t.trim())
    await until('the container reads hello', seen, (t) => t === 'hello')
    assert.equal((await readFile(join(out, 'token'), 'utf8')).trim(), 's3cret', 'env from the Secret')
    // as the container reads them: the bytes the API holds (base64 there), not a UTF-8 decoding of them
    assert.deepEqual([...(await readFile(join(out, 'blob')))], BLOB, 'binaryData, byte for byte')
    assert.equal(await readFile(join(out, 'text'), 'utf8'), 'h\u00e9llo', 'data beside it, as UTF-8')
    assert.deepEqual([...(await readFile(join(out, 'key')))], KEY, 'Secret data, byte for byte')

    const edited = await world.kubectl.run(['patch', 'configmap', 'app-config', '--type', 'merge', '-p', '{"data":{"greeting":"bonjour"}}'])
    assert.equal(edited.code, 0, edited.stderr)
    await until('the container reads the edited value', seen, (t) => t === 'bonjour')
    const [container] = await running(runtime, 'reader')
    assert.ok(container !== undefined, 'the same container, still running')

    // tern edge restarted: it adopts the running pod, whose volume then shows the edit made while
    // it was down and follows the edits after
    await edge.stop()
    const whileDown = await world.kubectl.run(['patch', 'configmap', 'app-config', '--type', 'merge', '-p', '{"data":{"greeting":"hola"}}'])
    assert.equal(whileDown.code, 0, whileDown.stderr)
    await startEdge()
    await until('the container reads the value edited while tern edge was down', seen, (t) => t === 'hola')
    const after = await world.kubectl.run(['patch', 'configmap', 'app-config', '--type', 'merge', '-p', '{"data":{"greeting":"ciao"}}'])
    assert.equal(after.code, 0, after.stderr)
    await until('the container reads the value edited after the restart', seen, (t) => t === 'ciao')
    assert.deepEqual((await running(runtime, 'reader')).map((c) => c.id), [container.id], 'the same container all along')
  })
})
