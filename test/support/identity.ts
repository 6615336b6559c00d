/**
 * A fleet with node identity for end-to-end tests: the API emulator (HTTPS, RBAC of deploy/cloud),
 * `tern cloud` in certificate mode (its CA in a Secret of tern-system, CloudHub served by a
 * certificate that CA issues), and helpers that run `tern gettoken`, `tern join` and a joined
 * `tern edge` as real processes.
 */
import { strict as assert } from 'node:assert'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFile, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { parse } from 'yaml'
import { issueCertificate, newKey } from '../../cloud-sync/identity/x509.js'
import { kubectlFor, type Kubectl } from './kube/kubectl.js'
import { ternCloudRules } from './kube/rbac.js'
import { startKubeEmulator, type KubeEmulator } from './kube/server.js'
import { makeTestPki, type TestPki } from './pki.js'
import { scratchDir } from './resources.js'
import { runTern, startTernCloud, startTernEdge, type TernCloudProcess, type TernEdgeProcess } from './tern.js'

export interface Fleet {
  dir: string
  kube: KubeEmulator
  kubectl: Kubectl
  pki: TestPki
  cloud: TernCloudProcess
  cloudConfig: string
  hubUrl: string
  undo: Array<() => Promise<void>>
  /** `tern gettoken` with these flags; resolves with the printed `<token>@<pin>` */
  token(flags?: string[]): Promise<string>
  /** `tern join` into a fresh directory (or `dir`); resolves with the exit code, output and the directory */
  join(node: string, token: string, options?: { dir?: string; extra?: string[] }): Promise<{ code: number | null; output: string; dir: string }>
  /**
   * A node certificate and key issued by the fleet CA (read from its Secret) but not recorded:
   * what the CA signed at another time (an expired one, one of another join).
   */
  issue(node: string, validity: { notBefore: Date; notAfter: Date }): { cert: string; key: string }
  /** `tern edge` on the config `tern join` wrote in `dir`, with test timings (`cloud` overrides keys of its `cloud:` section) */
  startEdge(dir: string, options?: { mappers?: string[]; cloud?: Record<string, unknown> }): Promise<TernEdgeProcess>
}

export async function startFleet(undo: Array<() => Promise<void>>, options: { nodeCertificateSeconds?: number } = {}): Promise<Fleet> {
  const scratch = await scratchDir('tern-fleet-')
  undo.push(() => scratch.remove())
  const dir = scratch.path
  const pki = await makeTestPki(dir)
  const kube = await startKubeEmulator({ token: 'admin', roles: { 'tern-cloud': await ternCloudRules() }, tls: { ...pki.server, ca: pki.ca } })
  undo.push(() => kube.stop())
  const kubectl = await kubectlFor(kube, dir)
  const crds = await kubectl.run(['apply', '-f', join(import.meta.dirname, '../../deploy/crds')])
  assert.equal(crds.code, 0, crds.stderr)
  // straight into the emulator: kubectl sends built-in objects as protobuf, which it does not decode
  const namespaces = kube.api.findType('', 'v1', 'namespaces')
  assert.ok(namespaces !== undefined)
  kube.api.create(namespaces, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tern-system' } })
  const kubeconfig = await kube.writeKubeconfig(join(dir, 'cloud-kubeconfig'), 'tern-system', 'tern-cloud')
  const config = {
    hub: { host: '127.0.0.1', port: 0, keepaliveTimeoutMs: 3000, resendMs: 500 },
    identity: { nodeCertificateSeconds: options.nodeCertificateSeconds ?? 3600 },
    kube: { kubeconfig },
    status: { qps: 200, burst: 50 },
    log: { level: 'debug' },
  }
  const cloud = await startTernCloud(dir, config)
  undo.push(() => cloud.stop())
  const cloudConfig = join(dir, 'cloud.yaml')
  const hubUrl = `wss://127.0.0.1:${cloud.hubPort}`
  return {
    dir,
    kube,
    kubectl,
    pki,
    cloud,
    cloudConfig,
    hubUrl,
    undo,
    token: async (flags = []) => {
      const got = await runTern(['gettoken', '--config', cloudConfig, '--cloud', hubUrl, ...flags])
      assert.equal(got.code, 0, got.output)
      const line = got.output.split('\n')[0] ?? ''
      assert.match(line, /^[a-z0-9]{6}\.[a-z0-9]{16}@sha256:[0-9a-f]{64}$/)
      assert.match(got.output, new RegExp(`tern join --cloud ${hubUrl} --token ${line.replace(/[.]/g, '\\.')}`))
      return line
    },
    join: async (node, token, joinOptions = {}) => {
      let target = joinOptions.dir
      if (target === undefined) {
        const fresh = await scratchDir('tern-node-')
        undo.push(() => fresh.remove())
        target = fresh.path
      }
      const got = await runTern(['join', '--cloud', hubUrl, '--token', token, '--node', node, '--config', join(target, 'tern.yaml'), ...(joinOptions.extra ?? [])])
      return { ...got, dir: target }
    },
    issue: (node, validity) => {
      const secret = kube.api.get(kube.api.findType('', 'v1', 'secrets') as never, 'tern-system', 'tern-ca') as unknown as { data: Record<string, string> }
      const caCert = new X509Certificate(Buffer.from(secret.data['tls.crt'] as string, 'base64'))
      const caKey = createPrivateKey(Buffer.from(secret.data['tls.key'] as string, 'base64'))
      const key = newKey()
      const cert = issueCertificate({ issuer: { cert: caCert, key: caKey }, signingKey: caKey, subject: { cn: `system:node:${node}`, o: 'system:nodes' }, publicKey: key.publicKey, ...validity, kind: 'client' })
      return { cert: cert.toString(), key: key.key }
    },
    startEdge: async (nodeDir, edgeOptions = {}) => {
      const written = parse(await readFile(join(nodeDir, 'tern.yaml'), 'utf8')) as { node: { name: string }; cloud: Record<string, unknown> }
      const edge = await startTernEdge(nodeDir, {
        node: written.node,
        mqtt: { listeners: [{ port: 0 }] },
        mappers: { enabled: edgeOptions.mappers ?? ['modbus'], heartbeatMs: 0, backoff: { initialMs: 100, maxMs: 800 } },
        cloud: { ...written.cloud, heartbeatMs: 500, keepaliveTimeoutMs: 2000, resendMs: 500, backoff: { initialMs: 100, maxMs: 1000 }, ...edgeOptions.cloud },
        log: { level: 'debug' },
      })
      undo.push(() => edge.stop())
      return edge
    },
  }
}

/** Every file under `dir` with its mode and contents, to assert that a command changed nothing. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name)
    const info = await stat(path)
    out[path] = entry.isFile() ? `${info.mode.toString(8)} ${(await readFile(path)).toString('base64')}` : info.mode.toString(8)
  }
  return out
}
