/**
 * The web view as `tern edge` serves it (the built command): mounted on the node's HTTP listener
 * with `http.ui: true`, beside /metrics, and answering every method of its own paths.
 */
import { strict as assert } from 'node:assert'
import { FAN_MODEL } from '../support/modbus.js'
import { scratchWithDevices } from '../support/manifests.js'
import { freePort } from '../support/resources.js'
import { startTernEdge, type TernEdgeProcess } from '../support/tern.js'
import { fanManifest } from '../support/web-view.js'

describe('web view mounted in tern edge (http.ui: true)', function () {
  this.timeout(60_000)
  const undo: Array<() => Promise<void>> = []
  let node: TernEdgeProcess
  let base: string
  before(async () => {
    const { dir, devices } = await scratchWithDevices(`${FAN_MODEL}${fanManifest('fan-1', await freePort(), { temperature: false })}`, undo)
    node = await startTernEdge(dir, { node: { name: 'edge-1' }, twin: { manifestsDir: devices }, mqtt: { listeners: [{ port: 0 }] }, mappers: { enabled: ['modbus'] }, http: { listen: '127.0.0.1:0', ui: true } })
    undo.push(() => node.stop())
    base = `http://127.0.0.1:${node.httpPort}`
  })
  after(async () => {
    for (const step of undo.reverse()) await step()
  })

  it('serves the page, and /metrics beside it', async () => {
    const page = await fetch(`${base}/ui/`)
    assert.equal(page.status, 200)
    assert.match(await page.text(), /<script src="\/ui\/app\.js" defer><\/script>/)
    assert.equal((await fetch(`${base}/ui/app.js`)).headers.get('content-encoding'), 'gzip')
    assert.equal((await fetch(`${base}/metrics`)).status, 200)
  })

  it('sets an expected value through the twin for an anonymous viewer on loopback (a POST, past the GET-only routes)', async () => {
    const session = await fetch(`${base}/ui/api/session`)
    const { csrf, user } = (await session.json()) as { csrf: string; user: string | null }
    assert.equal(user, null)
    const cookie = (session.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
    const set = await fetch(`${base}/ui/api/expected`, {
      method: 'POST',
      headers: { cookie, 'x-tern-csrf': csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ device: 'default/fan-1', property: 'speed', value: '4000' }),
    })
    assert.deepEqual([set.status, ((await set.json()) as { errorCode: string }).errorCode], [400, 'TWIN_VALUE_OUT_OF_RANGE'])
    const ok = await fetch(`${base}/ui/api/expected`, {
      method: 'POST',
      headers: { cookie, 'x-tern-csrf': csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ device: 'default/fan-1', property: 'speed', value: '40' }),
    })
    assert.equal(ok.status, 200)
  })
})
