/**
 * The web view as a user sees it (issue: a live web view of the gateway): Debian's headless
 * Chromium on the page the built `tern edge` serves on its own HTTP listener (`http.ui: true`),
 * its Modbus mapper polling a real pymodbus peer. The browser reaches the node by a host name that
 * is not loopback's, as from another machine, so the node asks for a login; by 127.0.0.1 it admits
 * an anonymous viewer. Screenshots go to .tmp/web-view/ (git-ignored); the docs' ones are copies
 * of these.
 */
import { strict as assert } from 'node:assert'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { registerUntil } from '../support/cloud.js'
import { FAN_MODEL, startPymodbus, type PymodbusPeer } from '../support/modbus.js'
import { freePort, scratchDir } from '../support/resources.js'
import { ARTEFACTS, fanManifest, launchChromium, startTernWebNode, type TernWebNode } from '../support/web-view.js'

const ACL = [
  { topic: '$hw/#', access: 'readwrite' as const, users: ['admin'] },
  { topic: '$tern/#', access: 'read' as const, users: ['admin'] },
  { topic: '$hw/events/device/fan-2/#', access: 'readwrite' as const, users: ['alice'] },
  // the mapper's counters, which carry every device of the protocol: alice sees fan-2's alone
  { topic: '$tern/mappers/#', access: 'read' as const, users: ['alice'] },
  // viewers on the gateway itself (loopback, no login) may look at fan-1
  { topic: '$hw/events/device/fan-1/twin/update/document', access: 'read' as const, users: ['$anonymous'] },
]

describe('web view in Chromium (built tern edge, pymodbus peer)', function () {
  this.timeout(120_000)
  const undo: Array<() => Promise<unknown>> = []
  let web: TernWebNode
  let peer: PymodbusPeer | undefined
  let port: number
  let browser: Browser

  before(async () => {
    await mkdir(ARTEFACTS, { recursive: true })
    const dir = await scratchDir('tern-web-')
    undo.push(() => dir.remove())
    port = await freePort()
    web = await startTernWebNode(
      {
        dir: dir.path,
        manifests: `${FAN_MODEL}${fanManifest('fan-1', port, { slave: 1 })}${fanManifest('fan-2', port, { slave: 2 })}`,
        users: { admin: 'admin-secret', alice: 'alice-secret' },
        acl: ACL,
      },
      undo,
    )
    const chromium = await launchChromium()
    undo.push(() => chromium.close())
    browser = chromium.browser
  })
  after(async () => {
    for (const step of undo.reverse()) await step()
  })

  async function logIn(user: string, password: string, viewport = { width: 1100, height: 760 }): Promise<Page> {
    const context = await browser.newContext({ viewport })
    undo.push(() => context.close())
    const page = await context.newPage()
    await page.goto(`${web.url}/ui/`)
    await page.locator('#login').waitFor({ state: 'visible' })
    await page.fill('input[name=username]', user)
    await page.fill('input[name=password]', password)
    await page.click('#login button[type=submit]')
    await page.locator('#login').waitFor({ state: 'hidden' })
    return page
  }

  const state = (page: Page, device: string) => page.locator(`[data-device="default/${device}"] .state`)
  const cell = (page: Page, device: string, prop: string, side: 'actual' | 'expected') => page.locator(`[data-device="default/${device}"] .prop[data-prop="${prop}"] .${side} .value`)

  it('refuses a wrong password with WEB_LOGIN_FAILED shown on the form', async () => {
    const context = await browser.newContext()
    undo.push(() => context.close())
    const page = await context.newPage()
    await page.goto(`${web.url}/ui/`)
    await page.fill('input[name=username]', 'admin')
    await page.fill('input[name=password]', 'wrong')
    await page.click('#login button[type=submit]')
    await page.locator('#login .error', { hasText: 'WEB_LOGIN_FAILED' }).waitFor()
  })

  it('logs in and sees a device go online when its Modbus peer appears', async () => {
    const page = await logIn('admin', 'admin-secret')
    await state(page, 'fan-1').waitFor()
    assert.notEqual(await state(page, 'fan-1').textContent(), 'online', 'nothing listens on the port yet')
    peer = await startPymodbus({ mode: 'tcp', port, slaves: [1, 2] })
    undo.push(() => (peer as PymodbusPeer).stop())
    await page.locator('[data-device="default/fan-1"] .state', { hasText: /^online$/ }).waitFor({ timeout: 20_000 })
    await page.locator('[data-device="default/fan-2"] .state', { hasText: /^online$/ }).waitFor({ timeout: 20_000 })
  })

  it('shows a register change on the peer within 2 s, with its age and chart', async () => {
    const page = await logIn('admin', 'admin-secret')
    assert.ok(peer !== undefined)
    await cell(page, 'fan-1', 'temperature', 'actual').waitFor()
    const started = Date.now()
    await peer.set(1, 'ir', 0, [237])
    await page.locator('[data-device="default/fan-1"] [data-prop="temperature"] .actual .value', { hasText: /^23\.7$/ }).waitFor({ timeout: 2000 })
    const seenMs = Date.now() - started
    assert.match((await page.locator('[data-device="default/fan-1"] [data-prop="temperature"] time.age').textContent()) ?? '', /s ago$/)
    await page.locator('[data-device="default/fan-1"] [data-prop="temperature"] svg.chart path').waitFor()
    console.log(`      register change seen in the page after ${seenMs} ms`)
    await page.screenshot({ path: join(ARTEFACTS, 'devices.png') })
  })

  it('sets an expected value and the mapper writes the register', async () => {
    const page = await logIn('admin', 'admin-secret')
    assert.ok(peer !== undefined)
    const form = page.locator('[data-device="default/fan-1"] form[data-prop="speed"]')
    await form.locator('input').fill('1234')
    await form.locator('button').click()
    await registerUntil(peer, 1234)
    await page.locator('[data-device="default/fan-1"] [data-prop="speed"] .expected .value', { hasText: /^1234$/ }).waitFor()
    await page.locator('[data-device="default/fan-1"] [data-prop="speed"] .actual .value', { hasText: /^1234$/ }).waitFor({ timeout: 10_000 })
  })

  it("shows the twin's validation error inline for an out-of-range value, and writes nothing", async () => {
    const page = await logIn('admin', 'admin-secret')
    assert.ok(peer !== undefined)
    const before = (await peer.get(1, 'hr', 0, 1))[0]
    const form = page.locator('[data-device="default/fan-1"] form[data-prop="speed"]')
    await form.locator('input').fill('5000')
    await form.locator('button').click()
    await form.locator('.error', { hasText: 'TWIN_VALUE_OUT_OF_RANGE' }).waitFor()
    assert.equal((await peer.get(1, 'hr', 0, 1))[0], before)
    assert.equal(await cell(page, 'fan-1', 'speed', 'expected').textContent(), String(before))
    await page.screenshot({ path: join(ARTEFACTS, 'validation-error.png') })
  })

  it('shows a user limited by the ACL only its devices, and refuses a write to another', async () => {
    const page = await logIn('alice', 'alice-secret', { width: 390, height: 760 })
    await state(page, 'fan-2').waitFor()
    await cell(page, 'fan-2', 'temperature', 'actual').waitFor()
    assert.equal(await page.locator('[data-device]').count(), 1)
    assert.equal(await page.locator('[data-device="default/fan-1"]').count(), 0)
    // what the page does not show cannot be set through the API either
    const refused = await page.evaluate(async () => {
      const session = (await (await fetch('/ui/api/session')).json()) as { csrf: string }
      const res = await fetch('/ui/api/expected', { method: 'POST', headers: { 'content-type': 'application/json', 'x-tern-csrf': session.csrf }, body: JSON.stringify({ device: 'default/fan-1', property: 'speed', value: '10' }) })
      return { status: res.status, body: (await res.json()) as { errorCode: string } }
    })
    assert.deepEqual([refused.status, refused.body.errorCode], [404, 'WEB_NOT_FOUND'])
    // and its counters show its own device only
    await page.locator('#mappers [data-counters]').first().waitFor({ timeout: 10_000 })
    const rows = page.locator('#mappers [data-counters]')
    assert.equal(await rows.count(), 1)
    assert.equal(await rows.first().getAttribute('data-counters'), 'default/fan-2')
    await page.screenshot({ path: join(ARTEFACTS, 'phone-acl.png'), fullPage: true })
  })

  it("on the gateway itself (loopback) admits a viewer without a login, who sees what the ACL's $anonymous may read", async () => {
    const context = await browser.newContext()
    undo.push(() => context.close())
    const page = await context.newPage()
    await page.goto(`${web.loopbackUrl}/ui/`)
    await state(page, 'fan-1').waitFor()
    assert.equal(await page.locator('#login').isVisible(), false)
    assert.equal(await page.locator('#user').textContent(), 'anonymous (loopback)')
    assert.equal(await page.locator('[data-device]').count(), 1)
    assert.equal(await page.locator('[data-device="default/fan-1"] form[data-prop]').count(), 0, 'read access only: nothing to set')
  })
})
