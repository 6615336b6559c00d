/**
 * A watch whose connection goes silent while others work (a NAT or load-balancer entry of that one
 * flow gone) is noticed from the bookmarks the API server sends on it (kube-apiserver: every 60 s,
 * the watch cache's defaultBookmarkFrequency): once a watch has carried bookmarks, no line for
 * `watchSilenceMs` ends it as silent. A quiet watch whose bookmarks arrive goes on, and so does a
 * watch of a server that sends none (left to its deadline). Real client-node watches over HTTPS to
 * the emulator through a TCP proxy that freezes one connection.
 */
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ClientNodeKubeApi, KubeRequestError, loadKubeConfig, type WatchEvent, type WatchHandle } from '../../cloud-sync/cloud/kube-api.js'
import { kubectlFor } from '../support/kube/kubectl.js'
import { startKubeEmulator, type KubeEmulator } from '../support/kube/server.js'
import { makeTestPki } from '../support/pki.js'
import { scratchDir } from '../support/resources.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'

const root = join(import.meta.dirname, '../..')
/** the silence limit of these tests, 7.5 bookmark intervals: a busy test process must not end a healthy watch */
const SILENCE_MS = 3000
const BOOKMARK_MS = 400
const DEVICES = '/apis/devices.kubeedge.io/v1beta1/devices'

interface World {
  kube: KubeEmulator
  proxy: TcpProxy
  /** a ClientNodeKubeApi through the proxy; each call a new kubeconfig (nothing remembered of earlier watches) */
  api: () => ClientNodeKubeApi
}

async function withWorld(use: (world: World) => Promise<void>): Promise<void> {
  const dir = await scratchDir()
  const pki = await makeTestPki(dir.path)
  const kube = await startKubeEmulator({ token: 'admin', tls: { ...pki.server, ca: pki.ca }, bookmarkIntervalMs: BOOKMARK_MS })
  const proxy = await startTcpProxy(kube.port)
  try {
    const kubectl = await kubectlFor(kube, dir.path)
    assert.equal((await kubectl.run(['apply', '-f', join(root, 'deploy/crds')])).code, 0)
    const kubeconfig = await kube.writeKubeconfig(join(dir.path, 'api-kubeconfig'))
    await writeFile(kubeconfig, (await readFile(kubeconfig, 'utf8')).replace(`:${kube.port}`, `:${proxy.port}`))
    await use({ kube, proxy, api: () => new ClientNodeKubeApi(loadKubeConfig(kubeconfig, { watchSilenceMs: SILENCE_MS })) })
  } finally {
    await proxy.stop()
    await kube.stop()
    await dir.remove()
  }
}

interface Watching {
  events: WatchEvent[]
  /** resolves when the watch ends, with its error */
  ended: Promise<KubeRequestError | undefined>
  handle: WatchHandle
}

async function watchDevices(api: ClientNodeKubeApi): Promise<Watching> {
  const events: WatchEvent[] = []
  let done: (err: KubeRequestError | undefined) => void = () => undefined
  const ended = new Promise<KubeRequestError | undefined>((resolve) => (done = resolve))
  const handle = await api.watch('devices', '1', { event: (e) => events.push(e), done: (err) => done(err) })
  return { events, ended, handle }
}

/** The watch's end if it comes within `ms`, else 'open'. */
function endedWithin(watching: Watching, ms: number): Promise<KubeRequestError | undefined | 'open'> {
  return Promise.race([watching.ended, new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), ms))])
}

async function bookmarksSeen(watching: Watching, count: number): Promise<void> {
  const started = Date.now()
  while (watching.events.filter((e) => e.type === 'BOOKMARK').length < count) {
    assert.ok(Date.now() - started < 10_000, `fewer than ${count} bookmarks after 10 s`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

function assertSilent(err: KubeRequestError | undefined | 'open'): void {
  assert.ok(err instanceof KubeRequestError && err.timedOut && /no event or bookmark/.test(err.message), `not ended as silent: ${String(err)}`)
}

describe('cloud sync, cloud: a watch whose connection goes silent', function () {
  this.timeout(60_000)

  it('after bookmarks, a watch whose connection is frozen (others working) is ended within the silence limit', () =>
    withWorld(async ({ kube, proxy, api }) => {
      const watching = await watchDevices(api())
      await bookmarksSeen(watching, 1)
      const [stream] = kube.openWatches().filter((w) => w.path === DEVICES)
      assert.ok(stream?.clientPort !== undefined)
      proxy.freeze({ only: [stream.clientPort] })
      const frozenAt = Date.now()
      const err = await endedWithin(watching, SILENCE_MS + 5000)
      assertSilent(err)
      const after = Date.now() - frozenAt
      assert.ok(after >= SILENCE_MS - BOOKMARK_MS - 100, `ended ${after} ms after the freeze: before the limit`)
      // the rest of the route works: a list over a new connection is answered
      assert.deepEqual((await api().list('devices')).items, [])
    }))

  it('a quiet watch whose bookmarks arrive is not ended, for several silence limits', () =>
    withWorld(async ({ kube, api }) => {
      const watching = await watchDevices(api())
      assert.equal(await endedWithin(watching, 3 * SILENCE_MS), 'open')
      assert.ok(watching.events.length >= 5 && watching.events.every((e) => e.type === 'BOOKMARK'), `${watching.events.length} lines`)
      const streams = kube.openWatches().filter((w) => w.path === DEVICES)
      assert.equal(streams.length, 1)
      assert.ok((streams[0]?.bookmarks ?? 0) >= watching.events.length, 'the watch open is the one that carried every bookmark')
      watching.handle.stop()
    }))

  it('a server that sends no bookmarks: a quiet watch is left to its deadline, not ended for silence', () =>
    withWorld(async ({ kube, api }) => {
      kube.setBookmarkInterval(0)
      const watching = await watchDevices(api())
      assert.equal(await endedWithin(watching, 2 * SILENCE_MS), 'open')
      assert.equal(watching.events.length, 0)
      watching.handle.stop()
    }))

  it('the next watch of a path that carried bookmarks is watched from its start; once one ends silent without a bookmark, the next waits for one', () =>
    withWorld(async ({ kube, api }) => {
      const client = api()
      const first = await watchDevices(client)
      await bookmarksSeen(first, 1)
      first.handle.stop()
      await first.ended
      // as an API server restarted, whose resource has not changed since: no more bookmarks
      kube.setBookmarkInterval(0)
      const second = await watchDevices(client)
      assertSilent(await endedWithin(second, SILENCE_MS + 5000))
      const third = await watchDevices(client)
      assert.equal(await endedWithin(third, 2 * SILENCE_MS), 'open')
      third.handle.stop()
    }))
})
