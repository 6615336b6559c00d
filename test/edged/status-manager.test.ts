/**
 * Edged's status manager and what it tells the cloud (its `onChange`, the kubelet's status
 * manager syncing to the API server): every new status; an unchanged one not again within a run;
 * each pod's first status after a restart even when the store kept the same one, and every status
 * again on `reassert()` (after reconnecting) — the API server's copy may have been overwritten
 * meanwhile (the node lifecycle controller marks an unreachable node's pods Ready=False), and only
 * the edge can set it right.
 */
import { strict as assert } from 'node:assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryLevel } from 'memory-level'
import { pino } from 'pino'
import { PodStore } from '../../edged/pod-store.js'
import { StatusManager } from '../../edged/status-manager.js'
import type { Pod, PodStatus } from '../../schemas/pod.js'
import type { AnyLevel } from '../../twin/store.js'

const pod = (name: string): Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', uid: `uid-${name}` }, spec: { containers: [{ name: 'app', image: 'busybox' }] } })
const running = (ip: string): PodStatus => ({ phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [] }) as unknown as PodStatus

describe('edged status manager: what the cloud hears of pod statuses', () => {
  let db: AnyLevel
  let dir: string
  beforeEach(async () => {
    db = new MemoryLevel({ valueEncoding: 'json' }) as unknown as AnyLevel
    dir = await mkdtemp(join(tmpdir(), 'tern-status-'))
  })
  afterEach(async () => {
    await db.close()
    await rm(dir, { recursive: true, force: true })
  })

  async function manager(heard: string[]): Promise<StatusManager> {
    const statuses = new StatusManager({ store: new PodStore(db), rootDir: dir, nodeName: 'n1', log: pino({ level: 'silent' }), onChange: (p, s) => void heard.push(`${p.metadata.name} ${s.podIP ?? ''}`) })
    await statuses.load()
    return statuses
  }

  it('a new status is heard, the same one again is not, a changed one is', async () => {
    const heard: string[] = []
    const statuses = await manager(heard)
    await statuses.set(pod('web'), running('10.0.0.1'), false)
    await statuses.set(pod('web'), running('10.0.0.1'), false)
    await statuses.set(pod('web'), running('10.0.0.2'), false)
    await statuses.flush()
    assert.deepEqual(heard, ['web 10.0.0.1', 'web 10.0.0.2'])
  })

  it('after a restart, each pod’s first status is heard even when the store kept the same one, then only changes', async () => {
    const first = await manager([])
    await first.set(pod('web'), running('10.0.0.1'), false)
    await first.flush()
    const heard: string[] = []
    const again = await manager(heard)
    assert.equal(again.previous('uid-web')?.podIP, '10.0.0.1', 'the store kept it')
    await again.set(pod('web'), running('10.0.0.1'), false)
    await again.set(pod('web'), running('10.0.0.1'), false)
    await again.flush()
    assert.deepEqual(heard, ['web 10.0.0.1'])
  })

  it('reassert: every current status is heard again; a removed pod is not', async () => {
    const heard: string[] = []
    const statuses = await manager(heard)
    await statuses.set(pod('web'), running('10.0.0.1'), false)
    await statuses.set(pod('db'), running('10.0.0.3'), false)
    await statuses.set(pod('gone'), running('10.0.0.4'), false)
    await statuses.remove('uid-gone')
    heard.length = 0
    statuses.reassert()
    await statuses.flush()
    assert.deepEqual(heard.sort(), ['db 10.0.0.3', 'web 10.0.0.1'])
  })
})
