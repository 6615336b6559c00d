/**
 * tern cloud reuses its connections to the API server: client-node 1.4 builds a new Agent (a new
 * TCP connection and TLS handshake) for every request, which at a few hundred status patches per
 * second leaves thousands of sockets in TIME_WAIT (bench/cloud.ts found it). The kubeconfig tern
 * loads keeps one keep-alive agent per cluster and credentials for every client made from it, with
 * a bounded number of connections (bench/cloud-workloads.ts: 1,000 nodes connecting at once opened
 * hundreds, which then idled between Lease renewals and failed with "socket hang up" as the server
 * closed them).
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { ClientNodeCoreApi } from '../../cloud-sync/cloud/core-api.js'
import { API_CONNECTIONS, ClientNodeKubeApi, closeApiConnections, KubeRequestError, loadKubeConfig } from '../../cloud-sync/cloud/kube-api.js'
import { ClientNodeNodeApi } from '../../cloud-sync/cloud/node-api.js'
import { ClientNodeWorkloadApi } from '../../cloud-sync/cloud/workload-api.js'
import { ClientNodeIdentityApi } from '../../cloud-sync/identity/identity-api.js'
import { kubectlFor } from '../support/kube/kubectl.js'
import { startKubeEmulator, type KubeEmulator } from '../support/kube/server.js'
import { makeTestPki } from '../support/pki.js'
import { scratchDir } from '../support/resources.js'

const root = join(import.meta.dirname, '../..')

/** The emulator (HTTPS with a token, or plain HTTP) holding Device `d`, and a ClientNodeKubeApi on it; runs `use`, then stops both. */
async function withDevice(scheme: 'https' | 'http', use: (api: ClientNodeKubeApi, kube: KubeEmulator) => Promise<void>): Promise<void> {
  const dir = await scratchDir()
  const pki = await makeTestPki(dir.path)
  const kube = await startKubeEmulator(scheme === 'https' ? { token: 'admin', tls: { ...pki.server, ca: pki.ca } } : {})
  try {
    const kubectl = await kubectlFor(kube, dir.path)
    assert.equal((await kubectl.run(['apply', '-f', join(root, 'deploy/crds')])).code, 0)
    const model = 'apiVersion: devices.kubeedge.io/v1beta1\nkind: DeviceModel\nmetadata: { name: m }\nspec: { protocol: modbus }\n'
    const device = 'apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: { name: d }\nspec: { deviceModelRef: { name: m }, nodeName: n1 }\n'
    assert.equal((await kubectl.run(['apply', '-f', '-'], `${model}---\n${device}`)).code, 0)
    await use(new ClientNodeKubeApi(loadKubeConfig(await kube.writeKubeconfig(join(dir.path, 'api-kubeconfig'))), {}), kube)
  } finally {
    await kube.stop()
    await dir.remove()
  }
}

describe('cloud sync, cloud: connections to the API server', function () {
  this.timeout(30_000)
  for (const scheme of ['https', 'http'] as const) {
    it(`${scheme}: 40 status patches and lists travel over a handful of kept-alive connections`, () =>
      withDevice(scheme, async (api, kube) => {
        const before = kube.connectionCount()
        for (let i = 0; i < 20; i++) {
          await api.patchDeviceStatus('default', 'd', { status: { state: i % 2 === 0 ? 'online' : 'offline' } })
          await api.list('devices')
        }
        const opened = kube.connectionCount() - before
        assert.ok(opened <= 3, `${opened} connections for 40 requests`)
      }))
  }

  it(`${API_CONNECTIONS * 3} requests at once share at most ${API_CONNECTIONS} connections; every one is answered`, () =>
    withDevice('http', async (api, kube) => {
      const before = kube.connectionCount()
      const answers = await Promise.all(Array.from({ length: API_CONNECTIONS * 3 }, (_, i) => api.patchDeviceStatus('default', 'd', { status: { state: i % 2 === 0 ? 'online' : 'offline' } })))
      assert.equal(answers.length, API_CONNECTIONS * 3)
      const opened = kube.connectionCount() - before
      assert.ok(opened <= API_CONNECTIONS, `${opened} connections for ${API_CONNECTIONS * 3} requests at once`)
    }))

  it('an idle connection is closed by tern cloud a second before the server’s Keep-Alive timeout, not by the server', async () => {
    // a minimal API server answering the device list, with Node's keep-alive (it announces `Keep-Alive: timeout=2`)
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'DeviceList', metadata: { resourceVersion: '1' }, items: [] }))
    })
    server.keepAliveTimeout = 2000
    const closedByClient: boolean[] = []
    server.on('connection', (socket) => {
      let ended = false
      socket.on('end', () => (ended = true)) // the client's FIN
      socket.on('close', () => closedByClient.push(ended))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const dir = await scratchDir()
    try {
      const port = (server.address() as AddressInfo).port
      const kubeconfig = join(dir.path, 'kubeconfig')
      await writeFile(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{ name: c, cluster: { server: 'http://127.0.0.1:${port}', insecure-skip-tls-verify: true } }]\nusers: [{ name: u, user: {} }]\ncontexts: [{ name: x, context: { cluster: c, user: u } }]\ncurrent-context: x\n`)
      const api = new ClientNodeKubeApi(loadKubeConfig(kubeconfig), {})
      assert.deepEqual((await api.list('devices')).items, [])
      const deadline = Date.now() + 10_000
      while (closedByClient.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
      assert.deepEqual(closedByClient, [true])
    } finally {
      server.close()
      await dir.remove()
    }
  })

  // Every client of tern cloud, each made alone from the kubeconfig as loaded: none may depend on
  // another having been made first (the bound once came with the Device client's constructor).
  const alone: Array<[string, (kubeconfig: string) => () => Promise<unknown>]> = [
    ['Nodes and Leases', (kc) => { const api = new ClientNodeNodeApi(loadKubeConfig(kc)); return () => api.getLease('absent') }],
    ['pod status and Events', (kc) => { const api = new ClientNodeCoreApi(loadKubeConfig(kc)); return () => api.getPod('default', 'absent') }],
    ['workloads', (kc) => { const api = new ClientNodeWorkloadApi(loadKubeConfig(kc)); return () => api.list('configmaps') }],
    ['node identity', (kc) => { const api = new ClientNodeIdentityApi(loadKubeConfig(kc), 'default', 'x=y'); return () => api.getSecret('default', 'absent') }],
  ]
  for (const [what, make] of alone) {
    it(`the ${what} client, made alone, shares the bound: ${API_CONNECTIONS * 3} requests at once use at most ${API_CONNECTIONS} connections`, () =>
      withDevice('http', async (_api, kube) => {
        const dir = await scratchDir()
        try {
          const request = make(await kube.writeKubeconfig(join(dir.path, 'alone-kubeconfig')))
          const before = kube.connectionCount()
          await Promise.all(Array.from({ length: API_CONNECTIONS * 3 }, () => request()))
          const opened = kube.connectionCount() - before
          assert.ok(opened <= API_CONNECTIONS, `${opened} connections for ${API_CONNECTIONS * 3} requests at once`)
        } finally {
          await dir.remove()
        }
      }))
  }

  /** An API server that takes requests and never answers (a watch: only its headers); its kubeconfig; runs `use`, then stops it. */
  async function withSilentServer(use: (kubeconfig: string, requests: () => number) => Promise<void>): Promise<void> {
    let requests = 0
    const server = createServer((req, res) => {
      requests++
      if (req.url?.includes('watch=true') === true) res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const dir = await scratchDir()
    try {
      const kubeconfig = join(dir.path, 'kubeconfig')
      const port = (server.address() as AddressInfo).port
      await writeFile(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{ name: c, cluster: { server: 'http://127.0.0.1:${port}', insecure-skip-tls-verify: true } }]\nusers: [{ name: u, user: {} }]\ncontexts: [{ name: x, context: { cluster: c, user: u } }]\ncurrent-context: x\n`)
      await use(kubeconfig, () => requests)
    } finally {
      server.closeAllConnections()
      server.close()
      await dir.remove()
    }
  }

  async function givenUp(call: Promise<unknown>, withinMs: number): Promise<void> {
    const started = Date.now()
    const err = await call.then(() => assert.fail('answered'), (e: unknown) => e)
    assert.ok(err instanceof KubeRequestError && err.timedOut && err.status === undefined, `not a time-out: ${String(err)}`)
    assert.ok(Date.now() - started < withinMs, `given up after ${Date.now() - started} ms`)
  }

  it('a request with no answer is given up after the kubeconfig’s time limit (every client), a Lease call after its own', () =>
    withSilentServer(async (kubeconfig, requests) => {
      const kc = loadKubeConfig(kubeconfig, { requestTimeoutMs: 1000 })
      await givenUp(new ClientNodeKubeApi(kc, {}).list('devices'), 5000)
      await givenUp(new ClientNodeCoreApi(kc).getPod('default', 'p'), 5000)
      await givenUp(new ClientNodeWorkloadApi(kc).list('configmaps'), 5000)
      await givenUp(new ClientNodeIdentityApi(kc, 'default', 'x=y').getSecret('default', 's'), 5000)
      const nodes = new ClientNodeNodeApi(loadKubeConfig(kubeconfig, { requestTimeoutMs: 60_000 }), { leaseTimeoutMs: 500 })
      await givenUp(nodes.replaceLease('n1', { metadata: { name: 'n1' } }), 4000)
      assert.equal(requests(), 5, 'each request reached the server once')
    }))

  it('closeApiConnections closes connections in use: a request waiting on a silent server fails at once', () =>
    withSilentServer(async (kubeconfig, requests) => {
      const kc = loadKubeConfig(kubeconfig, { requestTimeoutMs: 60_000 })
      const waiting = new ClientNodeCoreApi(kc).getPod('default', 'p').then(() => assert.fail('answered'), (e: unknown) => e)
      while (requests() === 0) await new Promise((r) => setTimeout(r, 20))
      const started = Date.now()
      assert.equal(closeApiConnections(kc), 1)
      const err = await waiting
      assert.ok(err instanceof KubeRequestError && !err.timedOut, String(err))
      assert.ok(Date.now() - started < 2000)
    }))

  it('a watch the server does not end by its timeoutSeconds is ended by tern cloud soon after', () =>
    withSilentServer(async (kubeconfig) => {
      const api = new ClientNodeKubeApi(loadKubeConfig(kubeconfig), { watchTimeoutSeconds: 1 })
      const started = Date.now()
      const ended = new Promise<number>((resolve) => void api.watch('devices', '1', { event: () => assert.fail('no events'), done: () => resolve(Date.now() - started) }))
      const after = await ended
      // timeoutSeconds is 1 (randomised below 2), plus as much again
      assert.ok(after >= 1900 && after < 6000, `ended after ${after} ms`)
    }))
})
