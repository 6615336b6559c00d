/**
 * `tern cloud`'s kubelet stream endpoint and the nodes' stream tunnels (cloud-sync/streams/), when
 * the config has a `streams:` section: loaded only then, as the other optional parts are.
 */
import type { Logger } from 'pino'
import type { BoundPods } from '../cloud-sync/cloud/pod-uplink.js'
import type { KubeletEndpoint } from '../cloud-sync/cloud/node-object.js'
import type { StreamServer } from '../cloud-sync/streams/stream-server.js'
import type { Tunnels } from '../cloud-sync/streams/tunnels.js'
import type { CloudConfig } from '../schemas/cloud-config.js'
import { readNamedFile } from './config.js'

export interface CloudStreams {
  readonly tunnels: Tunnels
  readonly server: StreamServer
  /** what the Nodes' daemonEndpoints (and, with advertiseAddress, InternalIP) say */
  readonly endpoint: KubeletEndpoint
  /** true when the endpoint serves CloudHub's certificate (renewed with it) */
  readonly hubCertificate: boolean
  stop(): Promise<void>
}

/** `pods`: the workload downlink's pod informer, which routes each request to its pod's node. */
export async function startStreams(config: NonNullable<CloudConfig['streams']>, pods: BoundPods, hubTls: { cert: string | Buffer; key: string | Buffer } | undefined, log: Logger): Promise<CloudStreams> {
  const [{ Tunnels }, { StreamServer }] = await Promise.all([import('../cloud-sync/streams/tunnels.js'), import('../cloud-sync/streams/stream-server.js')])
  const read = (path: string, what: string): Promise<Buffer> => readNamedFile(path, what, 'CLOUD_CONFIG_INVALID')
  const clientCA = await read(config.clientCA, 'streams.clientCA')
  const tls = config.tls === undefined ? hubTls : { cert: await read(config.tls.cert, 'streams.tls.cert'), key: await read(config.tls.key, 'streams.tls.key') }
  if (tls === undefined) {
    const { TernError } = await import('../schemas/tern-error.js')
    throw new TernError('CLOUD_CONFIG_INVALID', 'streams needs a serving certificate: set streams.tls (or hub.tls in shared-secret mode); the API server speaks only HTTPS to a kubelet')
  }
  const tunnels = new Tunnels({ log, maxPerNode: config.maxPerNode })
  const server = new StreamServer({
    host: config.host,
    port: config.port,
    tls,
    clientCA,
    allowedNames: config.allowedNames,
    pods,
    tunnels,
    replyTimeoutMs: config.replyTimeoutMs,
    log,
  })
  const address = await server.start()
  const endpoint: KubeletEndpoint = { port: config.advertisePort ?? address.port, ...(config.advertiseAddress === undefined ? {} : { address: config.advertiseAddress }) }
  return {
    tunnels,
    server,
    endpoint,
    hubCertificate: config.tls === undefined,
    stop: async () => {
      tunnels.stop()
      await server.stop()
    },
  }
}
