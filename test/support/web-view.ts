/**
 * A node with its web view for browser tests: a real edge (cli/edge.ts: embedded broker, twin,
 * the Modbus mapper) in this process, the web view on a plain HTTP server on 127.0.0.1:0 (the
 * mount on the node's own listener is tested with the built command, web-view-mounted.test.ts),
 * and Debian's Chromium driven by playwright-core with a throwaway HOME, so it writes nothing into
 * the real one (it writes ~/.config/chromium and ~/.cache/dconf even with a temp profile).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pino } from 'pino'
import type { Browser } from 'playwright-core'
import { hashPassword } from '../../broker/passwords.js'
import { parseEdgeConfig } from '../../cli/config.js'
import { startEdge, type EdgeNode } from '../../cli/edge.js'
import type { AclRule } from '../../schemas/config.js'
import { WebView, type WebViewOptions } from '../../web/web-view.js'

export const CHROMIUM = '/usr/bin/chromium'
/** where the tests leave their screenshots (git-ignored) */
export const ARTEFACTS = resolve(import.meta.dirname, '../../.tmp/web-view')

/**
 * A fan of FAN_MODEL on one slave of a Modbus TCP peer; edge-owned (the page may set its speed)
 * unless `desired` makes it cloud-owned.
 */
export function fanManifest(name: string, port: number, options: { slave?: number; desired?: string; temperature?: boolean } = {}): string {
  const desired = options.desired === undefined ? '' : `      desired: { value: "${options.desired}" }\n`
  const temperature = options.temperature === false ? '' : `    - name: temperature
      collectCycle: 100
      visitors: { protocolName: modbus, configData: { register: InputRegister, offset: 0, limit: 1, scale: 0.1 } }
`
  return `---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: ${name} }
spec:
  deviceModelRef: { name: fan-model }
  protocol: { protocolName: modbus, configData: { ip: 127.0.0.1, port: ${port}, slaveID: ${options.slave ?? 1}, timeout: 300 } }
  properties:
    - name: speed
${desired}      collectCycle: 100
      visitors: { protocolName: modbus, configData: { register: HoldingRegister, offset: 0, dataType: uint16 } }
${temperature}`
}

export interface WebNode {
  readonly node: EdgeNode
  readonly view: WebView
  readonly url: string
  stop(): Promise<void>
}

export async function startWebNode(options: {
  dir: string
  manifests: string
  users: Record<string, string>
  acl?: AclRule[]
  view?: Partial<Pick<WebViewOptions, 'allowAnonymous' | 'loginLimit'>>
}): Promise<WebNode> {
  const devices = join(options.dir, 'devices')
  await mkdir(devices, { recursive: true })
  await writeFile(join(devices, 'devices.yaml'), options.manifests)
  const users = Object.entries(options.users).map(([username, password]) => ({ username, passwordHash: hashPassword(password) }))
  const config = parseEdgeConfig(
    {
      node: { name: 'edge-1' },
      dataDir: join(options.dir, 'data'),
      twin: { manifestsDir: devices },
      mqtt: { listeners: [{ port: 0 }], users, ...(options.acl === undefined ? {} : { acl: options.acl }) },
      mappers: { enabled: ['modbus'], heartbeatMs: 0, metricsMs: 300, backoff: { initialMs: 100, maxMs: 500 } },
      // the view is mounted on a server of the test's own (with options the config does not offer)
      http: false,
    },
    'test',
  )
  const log = pino({ level: 'silent' })
  const node = await startEdge(config, log)
  const view = new WebView({ bus: node.bus, twin: node.twin, nodeName: 'edge-1', users: config.mqtt.users, acl: config.mqtt.acl, log, ...options.view })
  await view.start()
  const server = createServer((req, res) => {
    if (!view.handle(req, res)) res.writeHead(404).end()
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    node,
    view,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      await view.stop()
      await closeServer(server)
      await node.stop()
    },
  }
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((ok) => server.close(() => ok()))
}

/** Chromium with its HOME and profile in a temp dir, removed again when it closes. */
export async function launchChromium(): Promise<{ browser: Browser; close(): Promise<void> }> {
  const { chromium } = await import('playwright-core')
  const home = await mkdtemp(join(tmpdir(), 'tern-chromium-'))
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_CACHE_HOME: join(home, '.cache') },
  })
  return {
    browser,
    close: async () => {
      await browser.close()
      await rm(home, { recursive: true, force: true })
    },
  }
}
