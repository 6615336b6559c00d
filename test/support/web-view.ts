/**
 * Nodes with the web view for its tests: the built `tern edge` with `http.ui: true` (the view on
 * the node's own listener, as users run it; the browser tests), or a real edge (cli/edge.ts:
 * embedded broker, twin, the Modbus mapper) in this process with the view on a plain HTTP server
 * of the test's, for view options the config does not offer (the HTTP tests). And Debian's Chromium
 * driven by playwright-core with a throwaway HOME, so it writes nothing into the real one (it
 * writes ~/.config/chromium and ~/.cache/dconf even with a temp profile).
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
import { startTernEdge, type TernEdgeProcess } from './tern.js'

export const CHROMIUM = '/usr/bin/chromium'
/** where the tests leave their screenshots (git-ignored) */
export const ARTEFACTS = resolve(import.meta.dirname, '../../.tmp/web-view')
/**
 * The name the browser reaches a built node by, as from another machine: Chromium resolves it to
 * 127.0.0.1 (launchChromium), and the node, seeing a host name that is not loopback's, asks for a
 * login as it would on the gateway's LAN address.
 */
export const GATEWAY_HOST = 'gateway.tern.test'

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

interface NodeSetup {
  dir: string
  manifests: string
  users: Record<string, string>
  acl?: AclRule[]
}

/** The edge config of a web-view node (its manifests written to `<dir>/devices`): the Modbus mapper reporting and publishing its counters often. */
async function webNodeConfig(options: NodeSetup): Promise<Record<string, unknown>> {
  const devices = join(options.dir, 'devices')
  await mkdir(devices, { recursive: true })
  await writeFile(join(devices, 'devices.yaml'), options.manifests)
  const users = Object.entries(options.users).map(([username, password]) => ({ username, passwordHash: hashPassword(password) }))
  return {
    node: { name: 'edge-1' },
    dataDir: join(options.dir, 'data'),
    twin: { manifestsDir: devices },
    mqtt: { listeners: [{ port: 0 }], users, ...(options.acl === undefined ? {} : { acl: options.acl }) },
    mappers: { enabled: ['modbus'], heartbeatMs: 0, metricsMs: 300, backoff: { initialMs: 100, maxMs: 500 } },
  }
}

export interface TernWebNode {
  readonly node: TernEdgeProcess
  /** the page's origin by GATEWAY_HOST (a login is asked for) */
  readonly url: string
  /** the page's origin by 127.0.0.1 (anonymous viewers are admitted, as the ACL's `$anonymous`) */
  readonly loopbackUrl: string
}

/** The built `tern edge` serving the view on its own HTTP listener (`http.ui: true`); stopped through `undo`. */
export async function startTernWebNode(options: NodeSetup, undo: Array<() => Promise<unknown>>): Promise<TernWebNode> {
  const node = await startTernEdge(options.dir, { ...(await webNodeConfig(options)), http: { listen: '127.0.0.1:0', ui: true } })
  undo.push(() => node.stop())
  return { node, url: `http://${GATEWAY_HOST}:${node.httpPort}`, loopbackUrl: `http://127.0.0.1:${node.httpPort}` }
}

/** An edge in this process with the view on a server of the test's own (with options the config does not offer). */
export async function startWebNode(options: NodeSetup & { view?: Partial<Pick<WebViewOptions, 'allowAnonymous' | 'loginLimit'>> }): Promise<WebNode> {
  const config = parseEdgeConfig({ ...(await webNodeConfig(options)), http: false }, 'test')
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

/** Chromium with its HOME and profile in a temp dir, removed again when it closes; GATEWAY_HOST is 127.0.0.1 to it. */
export async function launchChromium(): Promise<{ browser: Browser; close(): Promise<void> }> {
  const { chromium } = await import('playwright-core')
  const home = await mkdtemp(join(tmpdir(), 'tern-chromium-'))
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--host-resolver-rules=MAP ${GATEWAY_HOST} 127.0.0.1`],
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
