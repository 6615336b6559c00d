/**
 * The informer loop over a scripted in-memory KubeApi and a manual clock: what the emulator cannot
 * easily produce (a non-410 ERROR event, a broken connection, a failing list) and the back-off
 * between attempts. client-go's reflector is the reference: an ERROR event relists, a dropped
 * connection resumes from the last version, failures back off exponentially.
 */
import assert from 'node:assert/strict'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { pino } from 'pino'
import { Informer } from '../../cloud-sync/cloud/informers.js'
import { KubeRequestError, type KubeApi, type KubeList, type WatchHandlers } from '../../cloud-sync/cloud/kube-api.js'
import * as checks from '../../schemas/generated/validators.js'
import { validator } from '../../schemas/validate.js'
import { ManualClock, settle } from '../support/manual-clock.js'

const dev = (name: string, rv: string): object => ({
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'Device',
  metadata: { name, namespace: 'default', resourceVersion: rv },
  spec: { deviceModelRef: { name: 'fan' }, nodeName: 'edge-1' },
})

class ScriptedApi implements KubeApi {
  list: () => Promise<KubeList>
  readonly watches: Array<{ rv: string; handlers: WatchHandlers; stopped: boolean }> = []
  listCalls = 0
  listFailures = 0
  items: object[] = []
  rv = '10'

  constructor() {
    this.list = () => {
      this.listCalls++
      if (this.listFailures-- > 0) return Promise.reject(new KubeRequestError('connect ECONNREFUSED', undefined))
      const items = structuredClone(this.items)
      return Promise.resolve({ items, resourceVersion: this.rv, bytes: JSON.stringify(items).length })
    }
  }

  watch(_r: string, rv: string, handlers: WatchHandlers): Promise<{ stop(): void }> {
    const w = { rv, handlers, stopped: false }
    this.watches.push(w)
    return Promise.resolve({
      stop: () => {
        if (w.stopped) return
        w.stopped = true
        handlers.done(new KubeRequestError('aborted', undefined))
      },
    })
  }

  patchDeviceStatus(): Promise<unknown> {
    return Promise.reject(new Error('not used'))
  }

  last(): { rv: string; handlers: WatchHandlers; stopped: boolean } {
    const w = this.watches.at(-1)
    assert.ok(w, 'a watch is open')
    return w
  }
}

describe('cloud informer loop (scripted KubeApi, manual clock)', () => {
  it('resumes after a broken connection, relists after an ERROR event, backs off on failed lists', async () => {
    const clock = new ManualClock()
    const api = new ScriptedApi()
    api.items = [dev('a', '3')]
    api.listFailures = 2
    const changes: string[] = []
    const informer = new Informer({ api, resource: 'devices', validate: validator(checks.Device), log: pino({ level: 'silent' }), clock, backoff: { initialMs: 100, maxMs: 1000 } })
    informer.onChange((old, cur) => changes.push(`${old?.metadata.name ?? '-'}@${old?.metadata.resourceVersion ?? ''} -> ${cur?.metadata.name ?? '-'}@${cur?.metadata.resourceVersion ?? ''}`))
    informer.start()
    await settle()
    assert.equal(informer.synced, false)
    await clock.advance(100)
    await clock.advance(200)
    assert.equal(api.listCalls, 3, 'two failed lists, 100 then 200 ms apart')
    assert.equal(informer.synced, true)
    assert.equal(api.last().rv, '10')

    api.last().handlers.event({ type: 'MODIFIED', object: dev('a', '11') })
    api.last().handlers.event({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '15' } } })
    api.last().handlers.done(new KubeRequestError('socket hang up', undefined))
    await settle()
    assert.equal(api.watches.length, 1, 'waits before resuming')
    await clock.advance(99)
    assert.equal(api.watches.length, 1)
    await clock.advance(1)
    assert.equal(api.watches.length, 2)
    assert.equal(api.last().rv, '15', 'resumed from the bookmark, no relist')
    assert.equal(api.listCalls, 3)

    api.items = [dev('b', '20')]
    api.rv = '21'
    api.last().handlers.event({ type: 'ERROR', status: { code: 500, message: 'internal error' } })
    await clock.advance(199)
    assert.equal(api.listCalls, 3)
    await clock.advance(1)
    assert.equal(api.listCalls, 4, 'an ERROR event relists')
    assert.equal(api.last().rv, '21')
    assert.deepEqual(changes, ['-@ -> a@3', 'a@3 -> a@11', '-@ -> b@20', 'a@11 -> -@'])

    // A server that ends the watch immediately, again and again, is not hammered.
    api.last().handlers.done()
    await settle()
    assert.equal(api.watches.length, 3, 'not re-watched at once')
    // failed lists 100, 200; progress resets: resume after 100; ERROR event 200; empty watch 400
    assert.deepEqual(clock.requested, [100, 200, 100, 200, 400])
    await informer.stop()
    await informer.stop()
    assert.equal(api.watches.length, 3)
  })

  it('holds nothing of a list but what its transform keeps while the watch runs (client-go SetTransform): the listed objects are garbage', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const api = new ScriptedApi()
    api.items = [dev('a', '3')]
    let listed: WeakRef<object> | undefined
    const list = api.list
    api.list = async () => {
      const answer = await list()
      listed = new WeakRef(answer.items)
      return answer
    }
    const informer = new Informer({ api, resource: 'devices', validate: validator(checks.Device), transform: (d) => ({ ...d }), log: pino({ level: 'silent' }), clock: new ManualClock() })
    informer.start()
    await settle()
    assert.equal(api.watches.length, 1, 'listed, watching')
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setImmediate(resolve))
      gc()
    }
    assert.ok(listed !== undefined)
    assert.equal(listed.deref(), undefined, 'the list’s objects are not reachable from the informer')
    assert.equal(informer.get('default', 'a')?.metadata.resourceVersion, '3')
    await informer.stop()
  })
})
