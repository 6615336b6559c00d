/**
 * configMap and secret volumes following their objects (edged/volumes/refresh.ts), on real files
 * through the real VolumeManager: a change is written to the pods that use the object and to no
 * other, and changes arriving faster than the volumes can be written are gathered into the next
 * pass — the volumes end at the last value, with nothing left over, after a bounded number of writes.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import type { Pod } from '../../schemas/pod.js'
import { VolumeManager } from '../../edged/volumes.js'
import { RefreshingVolumes } from '../../edged/volumes/refresh.js'

const pod = (name: string, configMap: string): Pod =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: { containers: [{ name: 'app', image: 'busybox' }], volumes: [{ name: 'cfg', configMap: { name: configMap } }] },
  }) as unknown as Pod

describe('edged: configMap volumes follow their ConfigMaps', () => {
  let root: string
  beforeEach(async () => (root = await mkdtemp(join(tmpdir(), 'tern-refresh-'))))
  afterEach(() => rm(root, { recursive: true, force: true }))

  it('200 changes of one ConfigMap in a row: its two pods end at the last value after at most two writes each, with one payload directory; the pod of another ConfigMap is not written', async () => {
    const data = new Map<string, string>([['hot', 'v0'], ['cold', 'c0']])
    const inner = new VolumeManager({
      rootDir: root,
      files: {
        configMapFiles: (_ns, name) => Promise.resolve(data.has(name) ? { key: Buffer.from(data.get(name) as string) } : undefined),
        secretFiles: () => Promise.resolve(undefined),
      },
    })
    const setUps = new Map<string, number>()
    const counted = {
      setUp: (p: Pod) => {
        setUps.set(p.metadata.name, (setUps.get(p.metadata.name) ?? 0) + 1)
        return inner.setUp(p)
      },
      tearDownUid: (uid: string) => inner.tearDownUid(uid),
    }
    const volumes = new RefreshingVolumes(counted, pino({ level: 'silent' }))
    const pods = [pod('a', 'hot'), pod('b', 'hot'), pod('c', 'cold')]
    for (const p of pods) await volumes.setUp(p)
    setUps.clear()

    let last: Promise<void> = Promise.resolve()
    for (let i = 1; i <= 200; i++) {
      data.set('hot', `v${i}`)
      last = volumes.refresh([{ kind: 'configmap', namespace: 'default', name: 'hot' }])
    }
    await last
    for (const name of ['a', 'b']) {
      const dir = join(root, 'volumes', `uid-${name}`, 'cfg')
      assert.equal(await readFile(join(dir, 'key'), 'utf8'), 'v200', `pod ${name} shows the last value`)
      assert.ok((setUps.get(name) ?? 0) <= 2, `pod ${name}'s volumes written ${setUps.get(name)} times for 200 changes`)
      const entries = (await readdir(dir)).sort()
      assert.equal(entries.length, 3, `..data, one payload directory and the key: ${entries.join(' ')}`)
    }
    assert.equal(setUps.get('c') ?? 0, 0, 'the pod of the other ConfigMap is not written')

    // a change after the passes ended is written too
    data.set('hot', 'after')
    await volumes.refresh([{ kind: 'configmap', namespace: 'default', name: 'hot' }])
    assert.equal(await readFile(join(root, 'volumes', 'uid-a', 'cfg', 'key'), 'utf8'), 'after')
  })
})
