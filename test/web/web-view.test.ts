/**
 * The web view's HTTP surface without a browser: who is admitted (anonymous on loopback only, as
 * the bus), login rate limiting, CSRF, body validation, ownership of properties, and the asset
 * budget. A real edge in this process; its Modbus device has no peer (nothing here needs values).
 */
import { strict as assert } from 'node:assert'
import { request } from 'node:http'
import { FAN_MODEL } from '../support/modbus.js'
import { freePort, scratchDir } from '../support/resources.js'
import { fanManifest, startWebNode, type WebNode } from '../support/web-view.js'
import { loadAssets } from '../../web/assets.js'

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Record<string, unknown>
}

function call(base: string, method: string, path: string, options: { headers?: Record<string, string>; body?: unknown } = {}): Promise<Reply> {
  const text = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body)
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: { ...(text === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.startsWith('{') ? (JSON.parse(raw) as Record<string, unknown>) : {} })
      })
    })
    req.on('error', reject)
    req.end(text)
  })
}

function cookieOf(reply: Reply): string {
  const set = reply.headers['set-cookie']
  const first = Array.isArray(set) ? set[0] : set
  assert.ok(first !== undefined, 'a session cookie is set')
  return first.split(';')[0] as string
}

describe('web view over HTTP', function () {
  this.timeout(60_000)
  const undo: Array<() => Promise<unknown>> = []
  after(async () => {
    for (const step of undo.reverse()) await step()
  })

  async function node(view: { allowAnonymous?: boolean } = {}): Promise<WebNode> {
    const dir = await scratchDir('tern-web-')
    undo.push(() => dir.remove())
    const port = await freePort()
    const web = await startWebNode({
      dir: dir.path,
      manifests: `${FAN_MODEL}${fanManifest('edge-fan', port, { temperature: false })}${fanManifest('cloud-fan', port, { desired: '100', temperature: false })}`,
      users: { admin: 'admin-secret' },
      view: { ...view, loginLimit: { maxFailures: 5, windowMs: 60_000 } },
    })
    undo.push(() => web.stop())
    return web
  }

  async function login(web: WebNode): Promise<{ cookie: string; csrf: string }> {
    const reply = await call(web.url, 'POST', '/ui/api/login', { body: { username: 'admin', password: 'admin-secret' } })
    assert.equal(reply.status, 200)
    return { cookie: cookieOf(reply), csrf: String(reply.body.csrf) }
  }

  describe('on a loopback listener', () => {
    let web: WebNode
    before(async () => {
      web = await node()
    })

    it('admits an anonymous viewer with an HttpOnly SameSite=Strict session cookie', async () => {
      const reply = await call(web.url, 'GET', '/ui/api/session')
      assert.equal(reply.status, 200)
      assert.equal(reply.body.user, null)
      const set = String(reply.headers['set-cookie'])
      assert.match(set, /HttpOnly/)
      assert.match(set, /SameSite=Strict/)
    })

    it('admits no anonymous viewer for a host name that is not loopback (a page rebinding its DNS name to 127.0.0.1)', async () => {
      const reply = await call(web.url, 'GET', '/ui/api/session', { headers: { host: 'attacker.example:9464' } })
      assert.deepEqual([reply.status, reply.body.errorCode], [401, 'WEB_LOGIN_REQUIRED'])
    })

    it('serves the page with its bundled assets under a strict content security policy, gzipped', async () => {
      const page = await call(web.url, 'GET', '/ui/')
      assert.equal(page.status, 200)
      assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/)
      const js = await call(web.url, 'GET', '/ui/app.js', { headers: { 'accept-encoding': 'gzip' } })
      assert.deepEqual([js.status, js.headers['content-encoding']], [200, 'gzip'])
    })

    it('streams to 32 pages at most and refuses the next with WEB_TOO_MANY_VIEWERS', async () => {
      const session = await call(web.url, 'GET', '/ui/api/session')
      const cookie = cookieOf(session)
      const streams: Array<{ close(): void }> = []
      try {
        for (let i = 0; i < 32; i++) {
          const opened = await new Promise<{ status: number; close(): void }>((resolve, reject) => {
            const req = request(`${web.url}/ui/api/events`, { headers: { cookie } }, (res) => {
              res.once('data', () => resolve({ status: res.statusCode ?? 0, close: () => req.destroy() }))
            })
            req.on('error', reject)
            req.end()
          })
          streams.push(opened)
          assert.equal(opened.status, 200)
        }
        const refused = await call(web.url, 'GET', '/ui/api/events', { headers: { cookie } })
        assert.deepEqual([refused.status, refused.body.errorCode], [503, 'WEB_TOO_MANY_VIEWERS'])
      } finally {
        for (const s of streams) s.close()
      }
    })

    it('answers a path it does not know with WEB_NOT_FOUND and leaves other paths to the listener', async () => {
      assert.deepEqual([(await call(web.url, 'GET', '/ui/nothing')).body.errorCode], ['WEB_NOT_FOUND'])
      assert.equal((await call(web.url, 'GET', '/metrics')).status, 404)
    })
  })

  describe('with anonymous viewers off', () => {
    let web: WebNode
    before(async () => {
      web = await node({ allowAnonymous: false })
    })

    it('requires a login for the session, the stream and the history', async () => {
      for (const path of ['/ui/api/session', '/ui/api/events', '/ui/api/history?device=default/edge-fan&property=speed']) {
        const reply = await call(web.url, 'GET', path)
        assert.deepEqual([path, reply.status, reply.body.errorCode], [path, 401, 'WEB_LOGIN_REQUIRED'])
      }
    })

    it('refuses a login body that is not of its schema with every problem', async () => {
      const reply = await call(web.url, 'POST', '/ui/api/login', { body: { user: 'admin' } })
      assert.deepEqual([reply.status, reply.body.errorCode], [400, 'WEB_BAD_REQUEST'])
      assert.ok((reply.body.problems as unknown[]).length >= 2)
      const form = await call(web.url, 'POST', '/ui/api/login', { body: 'username=admin', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
      assert.deepEqual([form.status, form.body.errorCode], [400, 'WEB_BAD_REQUEST'])
    })

    it('refuses writes without the CSRF token, or from another origin', async () => {
      const { cookie, csrf } = await login(web)
      const body = { device: 'default/edge-fan', property: 'speed', value: '10' }
      const none = await call(web.url, 'POST', '/ui/api/expected', { headers: { cookie }, body })
      assert.deepEqual([none.status, none.body.errorCode], [403, 'WEB_CSRF_REJECTED'])
      const wrong = await call(web.url, 'POST', '/ui/api/expected', { headers: { cookie, 'x-tern-csrf': `${csrf}x` }, body })
      assert.deepEqual([wrong.status, wrong.body.errorCode], [403, 'WEB_CSRF_REJECTED'])
      const foreign = await call(web.url, 'POST', '/ui/api/expected', { headers: { cookie, 'x-tern-csrf': csrf, origin: 'http://attacker.example' }, body })
      assert.deepEqual([foreign.status, foreign.body.errorCode], [403, 'WEB_CSRF_REJECTED'])
    })

    it('sets an edge-owned property through the twin, and refuses a cloud-owned one', async () => {
      const { cookie, csrf } = await login(web)
      const headers = { cookie, 'x-tern-csrf': csrf }
      const ok = await call(web.url, 'POST', '/ui/api/expected', { headers, body: { device: 'default/edge-fan', property: 'speed', value: '10' } })
      assert.deepEqual([ok.status, ok.body], [200, { ok: true }])
      assert.equal(web.node.twin.devices.get('default/edge-fan')?.twins.speed?.expected?.value, '10')
      const cloud = await call(web.url, 'POST', '/ui/api/expected', { headers, body: { device: 'default/cloud-fan', property: 'speed', value: '10' } })
      assert.deepEqual([cloud.status, cloud.body.errorCode], [403, 'WEB_NOT_ALLOWED'])
      assert.equal(web.node.twin.devices.get('default/cloud-fan')?.twins.speed?.expected?.value, '100')
      const bad = await call(web.url, 'POST', '/ui/api/expected', { headers, body: { device: 'default/edge-fan', property: 'speed', value: 'fast' } })
      assert.deepEqual([bad.status, bad.body.errorCode, (bad.body.problems as Array<{ errorCode: string }>)[0]?.errorCode], [400, 'TWIN_VALUE_INVALID', 'TWIN_VALUE_INVALID'])
    })

    it('refuses logins unchecked after five failures in a minute, the right password too', async () => {
      for (let i = 0; i < 5; i++) {
        const reply = await call(web.url, 'POST', '/ui/api/login', { body: { username: 'admin', password: `guess-${i}` } })
        assert.deepEqual([reply.status, reply.body.errorCode], [401, 'WEB_LOGIN_FAILED'])
      }
      const limited = await call(web.url, 'POST', '/ui/api/login', { body: { username: 'admin', password: 'admin-secret' } })
      assert.deepEqual([limited.status, limited.body.errorCode], [429, 'WEB_LOGIN_RATE_LIMITED'])
      assert.ok(Number(limited.headers['retry-after']) > 0)
    })
  })

  it('keeps its assets within 60 KiB gzipped', async () => {
    const assets = await loadAssets()
    const gzipped = [...assets.values()].reduce((n, a) => n + a.gzip.length, 0)
    assert.ok(gzipped <= 60 * 1024, `${gzipped} bytes gzipped`)
    assert.deepEqual([...assets.keys()].sort(), ['app.css', 'app.js', 'index.html'])
  })
})
