/**
 * Node identity's cost on the link (DESIGN.md §6, `npm run bench -- --only identity`): how long one
 * node's connect takes (TCP, TLS, upgrade, authentication) and how much CPU it costs, with mutual
 * TLS and a node record check against the shared secret on the same TLS listener; and how long
 * `nodes` EdgeHubs take to be all connected after CloudHub starts and after it restarts, in both
 * modes. CloudHub, NodeIdentities and the EdgeHubs run in this one process against the API
 * emulator (records written straight into its store), so the figures include both ends' CPU on
 * one event loop.
 */
import { X509Certificate } from 'node:crypto'
import { loadavg } from 'node:os'
import pino from 'pino'
import WebSocket from 'ws'
import { loadKubeConfig } from '../cloud-sync/cloud/kube-api.js'
import { issueServing, loadOrCreateCa, type FleetCa } from '../cloud-sync/identity/ca.js'
import { ClientNodeIdentityApi } from '../cloud-sync/identity/identity-api.js'
import { NodeIdentities, RECORD_SELECTOR } from '../cloud-sync/identity/node-identities.js'
import { issueCertificate, newKey, serialOf } from '../cloud-sync/identity/x509.js'
import { bearer, sharedSecretAuthenticator, type Authenticator } from '../cloud-sync/link/auth.js'
import { CloudHub } from '../cloud-sync/link/cloud-hub.js'
import { EdgeHub } from '../cloud-sync/link/edge-hub.js'
import { DEFAULT_PROJECT_ID, eventsPath } from '../cloud-sync/link/protocol.js'
import { NAMESPACES } from '../test/support/kube/registry.js'
import { startKubeEmulator } from '../test/support/kube/server.js'
import { createNodeRecord } from '../test/support/node-record.js'
import { scratchDir } from '../test/support/resources.js'
import { percentiles, round } from './phases.js'

export interface IdentityBenchOptions {
  /** nodes that connect at once after CloudHub starts and restarts */
  nodes: number
  /** sequential connects (each closed before the next) measured one by one */
  connects: number
}

export const IDENTITY_DEFAULTS: IdentityBenchOptions = { nodes: 1000, connects: 200 }

/**
 * Rough, for a busy 2-core machine: issuing certificates, then per mode the connects one by one and
 * two storms of `nodes` handshakes (~15 ms of CPU each, both ends in this process; at a load
 * average of 19, 1,000 nodes took 213 s to be all connected).
 */
export function identityEstimateSeconds(o: IdentityBenchOptions): number {
  return 5 + o.nodes * 0.01 + 2 * (o.connects * 0.1 + 2 * (5 + o.nodes * 0.3))
}

type Mode = 'certificate' | 'shared-secret'

interface NodeCred {
  name: string
  cert: string
  key: string
}

export interface ConnectResult {
  /** ms from dial to open, one connect at a time */
  latencyMs: ReturnType<typeof percentiles>
  /** this process's CPU (both ends) per connect and close, ms */
  cpuMsPerConnect: number
}

export interface IdentityModeResult {
  connect: ConnectResult
  /** ms until every node is connected after CloudHub starts (all dial at once) */
  firstConnectMs: number
  /** the same after CloudHub restarts on its port (nodes redial with back-off) */
  reconnectMs: number
}

export interface IdentityBenchResult {
  nodes: number
  connects: number
  loadAverage: { before: number; after: number }
  certificate: IdentityModeResult
  sharedSecret: IdentityModeResult
}

const NAMESPACE = 'tern-system'
const SECRET = 'bench-shared-secret-0123456789'
const quiet = pino({ level: 'error' })
/** A storm that takes longer than this is reported as a failure (a loaded machine needs minutes). */
const STORM_TIMEOUT_MS = 900_000

/** Sequential connects; each socket closed before the next. */
async function connectTimes(port: number, ca: string, creds: NodeCred[], mode: Mode): Promise<ConnectResult> {
  const times = new Float64Array(creds.length)
  const cpuBefore = process.cpuUsage()
  for (const [i, node] of creds.entries()) {
    const started = performance.now()
    const socket = new WebSocket(`wss://127.0.0.1:${port}${eventsPath(DEFAULT_PROJECT_ID, node.name)}`, {
      ca,
      ...(mode === 'certificate' ? { cert: node.cert, key: node.key } : { headers: { Authorization: bearer(SECRET) } }),
    })
    await new Promise<void>((resolveOpen, reject) => {
      socket.once('open', () => resolveOpen())
      socket.once('error', reject)
    })
    times[i] = performance.now() - started
    socket.close()
    await new Promise((r) => socket.once('close', r))
  }
  const cpu = process.cpuUsage(cpuBefore)
  return { latencyMs: percentiles(times), cpuMsPerConnect: round((cpu.user + cpu.system) / 1000 / creds.length, 3) }
}

function hubFor(port: number, serving: { cert: string; key: string }, ca: FleetCa, authenticate: Authenticator, nodes: number): CloudHub {
  return new CloudHub({ host: '127.0.0.1', port, tls: { ...serving, ca: ca.pem }, authenticate, sessionLimit: nodes + 10, log: quiet, onSession: () => undefined })
}

async function until(test: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!test()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** All nodes' EdgeHubs dial a new hub; then the hub restarts on its port; ms until every node is back each time. */
async function reconnectAfterRestart(makeHub: (port: number) => CloudHub, creds: NodeCred[], ca: string, mode: Mode): Promise<{ firstConnectMs: number; reconnectMs: number }> {
  let hub = makeHub(0)
  const port = (await hub.start()).port
  const edges = creds.map(
    (node) =>
      new EdgeHub({
        url: `wss://127.0.0.1:${port}`,
        node: node.name,
        ca,
        ...(mode === 'certificate' ? { identity: { cert: node.cert, key: node.key } } : { secret: SECRET }),
        heartbeatMs: 15_000,
        backoff: { initialMs: 200, maxMs: 2000 },
        log: quiet,
        onSession: () => undefined,
      }),
  )
  let started = performance.now()
  await Promise.all(edges.map((e) => e.start()))
  await until(() => hub.sessions.size === creds.length, STORM_TIMEOUT_MS)
  const firstConnectMs = Math.round(performance.now() - started)
  await hub.stop()
  hub = makeHub(port)
  started = performance.now()
  await hub.start()
  await until(() => hub.sessions.size === creds.length && edges.every((e) => e.connected), STORM_TIMEOUT_MS)
  const reconnectMs = Math.round(performance.now() - started)
  await Promise.all(edges.map((e) => e.stop()))
  await hub.stop()
  return { firstConnectMs, reconnectMs }
}

export async function runIdentityBench(o: IdentityBenchOptions, progress: (line: string) => void): Promise<IdentityBenchResult> {
  const dir = await scratchDir('tern-bench-identity-')
  const kube = await startKubeEmulator()
  const loadBefore = round(loadavg()[0] ?? NaN, 2)
  try {
    kube.api.create(NAMESPACES, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } })
    const kc = loadKubeConfig(await kube.writeKubeconfig(`${dir.path}/kubeconfig`, NAMESPACE))
    const api = new ClientNodeIdentityApi(kc, NAMESPACE, RECORD_SELECTOR)
    const ca = await loadOrCreateCa({ kind: 'secret', api, namespace: NAMESPACE, name: 'tern-ca' }, quiet)
    const count = Math.max(o.nodes, o.connects)
    progress(`identity: issuing ${count} node certificates`)
    const creds: NodeCred[] = []
    for (let i = 0; i < count; i++) {
      const name = `bench-node-${i}`
      const key = newKey()
      const cert = issueCertificate({ issuer: { cert: ca.cert, key: ca.key }, signingKey: ca.key, subject: { cn: `system:node:${name}`, o: 'system:nodes' }, publicKey: key.publicKey, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), kind: 'client' })
      creds.push({ name, cert: cert.toString(), key: key.key })
      createNodeRecord(kube, NAMESPACE, name, serialOf(new X509Certificate(cert.toString())))
    }
    const identities = new NodeIdentities({ api, namespace: NAMESPACE, ca, nodeCertificateSeconds: 86_400, log: quiet })
    await identities.start()
    const serving = issueServing(ca, ['127.0.0.1'], 86_400)
    const modes: Array<[Mode, Authenticator]> = [
      ['certificate', (request, node) => identities.authenticate(request, node)],
      ['shared-secret', sharedSecretAuthenticator(SECRET)],
    ]
    const results = new Map<Mode, IdentityModeResult>()
    for (const [mode, authenticate] of modes) {
      progress(`identity ${mode}: ${o.connects} connects one at a time`)
      const hub = hubFor(0, serving, ca, authenticate, count)
      const port = (await hub.start()).port
      const connect = await connectTimes(port, ca.pem, creds.slice(0, o.connects), mode)
      await hub.stop()
      progress(`identity ${mode}: ${o.nodes} nodes at once, then a CloudHub restart`)
      const storms = await reconnectAfterRestart((p) => hubFor(p, serving, ca, authenticate, count), creds.slice(0, o.nodes), ca.pem, mode)
      const result = { connect, ...storms }
      results.set(mode, result)
      progress(`identity ${mode}: ${JSON.stringify(result)}`)
    }
    await identities.stop()
    const result: IdentityBenchResult = {
      nodes: o.nodes,
      connects: o.connects,
      loadAverage: { before: loadBefore, after: round(loadavg()[0] ?? NaN, 2) },
      certificate: results.get('certificate') as IdentityModeResult,
      sharedSecret: results.get('shared-secret') as IdentityModeResult,
    }
    process.stdout.write(`${JSON.stringify({ bench: 'identity', ...result })}\n`)
    return result
  } finally {
    await kube.stop()
    await dir.remove()
  }
}
