/**
 * The cloud side's composition root (`tern cloud`): one validated config in; the Device/DeviceModel
 * controllers (informers, downstream, upstream) start first and sync, then the Nodes of edge nodes
 * (status, Leases, NotReady after silence) and of their pods (status, events, the Node spec down), then node identity (the fleet CA, node records, the
 * serving certificate), then CloudHub opens for edge nodes; stop runs in reverse.
 */
import type { Logger } from 'pino'
import { CloudController } from '../cloud-sync/cloud/controller.js'
import { closeApiConnections, loadKubeConfig, type KubeRequestError } from '../cloud-sync/cloud/kube-api.js'
import { ClientNodeNodeApi, leaseTimeoutMs } from '../cloud-sync/cloud/node-api.js'
import { NodeLifecycle } from '../cloud-sync/cloud/node-lifecycle.js'
import { PodController } from '../cloud-sync/cloud/pod-controller.js'
import { UnsentPods } from '../cloud-sync/cloud/unsent-pods.js'
import { bootstrapHandler } from '../cloud-sync/identity/bootstrap.js'
import { NodeIdentities } from '../cloud-sync/identity/node-identities.js'
import { serveRenewals } from '../cloud-sync/identity/renewal.js'
import { sharedSecretAuthenticator, type Authenticator } from '../cloud-sync/link/auth.js'
import { CloudHub, type CloudHubOptions } from '../cloud-sync/link/cloud-hub.js'
import { CloseCodes } from '../cloud-sync/link/protocol.js'
import type { Session } from '../cloud-sync/session.js'
import type { CloudObservability } from '../metrics/cloud-observability.js'
import type { StreamServer } from '../cloud-sync/streams/stream-server.js'
import type WebSocket from 'ws'
import type { CloudConfig } from '../schemas/cloud-config.js'
import { resolveHttp } from '../schemas/http-listener.js'
import { openIdentityStore, servingTls } from './cloud-identity.js'
import type { CloudStreams } from './cloud-streams.js'
import { readNamedFile, readSecret } from './config.js'
import { ternVersion } from './package.js'
import { stopSteps } from './stops.js'

export interface CloudSide {
  readonly hub: CloudHub
  readonly controller: CloudController
  readonly nodes: NodeLifecycle
  readonly pods: PodController
  readonly identities: NodeIdentities | undefined
  readonly streams: CloudStreams | undefined
  readonly port: number
  /** the metrics and health listener (absent with `http: false`) */
  readonly http: CloudObservability | undefined
  stop(): Promise<void>
}

export async function startCloud(config: CloudConfig, log: Logger): Promise<CloudSide> {
  const started = Date.now()
  const stops = stopSteps(log)
  const stop = stops.stop
  try {
    const http = await startHttp(config, log, stops.push)
    // shared-secret mode: the secret and TLS files are checked before anything connects
    const secret = config.auth.mode === 'shared-secret' ? await readSecret(config.auth.secretFile, 'TERN_CLOUD_SECRET') : undefined
    const readTls = (path: string): Promise<Buffer> => readNamedFile(path, 'the CloudHub TLS file', 'CLOUD_CONFIG_INVALID')
    const ownTls = secret === undefined || config.hub.tls === undefined ? undefined : { cert: await readTls(config.hub.tls.cert), key: await readTls(config.hub.tls.key) }
    const kube = loadKubeConfig(config.kube.kubeconfig, { requestTimeoutMs: config.kube.requestTimeoutMs, watchSilenceMs: config.kube.watchSilenceMs })
    const controller = new CloudController({
      kube,
      log,
      qps: config.status.qps,
      burst: config.status.burst,
      workers: config.status.workers,
      syncTimeoutMs: config.kube.syncTimeoutMs,
    })
    stops.push(() => controller.stop())
    const workloads = controller.workloads
    const workloadApi = controller.workloadApi
    if (workloads === undefined || workloadApi === undefined) throw new Error('the cloud controller was built without its workload downlink')
    const pods = new PodController({ kube, pods: workloads.pods, budget: controller.budget, events: config.events, workers: config.status.workers, log })
    // subscribed before the informers start: a pod no node can be sent is seen from the first list
    const unsent = new UnsentPods({
      pods: workloads.pods,
      refusals: workloads,
      nodes: pods.nodes,
      deletePod: (ns, name, uid) => workloadApi.deletePod(ns, name, uid),
      reject: (pod) => pods.reject(pod),
      log: log.child({ part: 'cloud', controller: 'unsent-pods' }),
    })
    unsent.start()
    stops.push(() => Promise.resolve(unsent.stop()))
    await controller.start()
    http?.controller(controller)
    let streams: CloudStreams | undefined
    const nodes = new NodeLifecycle({
      api: new ClientNodeNodeApi(kube, { leaseTimeoutMs: leaseTimeoutMs(config.nodes.leaseDurationSeconds) }),
      log: log.child({ part: 'cloud', controller: 'nodes' }),
      onHeartbeatFailure: heartbeatFailure(kube, leaseTimeoutMs(config.nodes.leaseDurationSeconds), log),
      leaseDurationSeconds: config.nodes.leaseDurationSeconds,
      leaseRenewMs: config.nodes.leaseRenewSeconds * 1000,
      gracePeriodMs: config.nodes.gracePeriodSeconds * 1000,
      monitorPeriodMs: config.nodes.monitorPeriodSeconds * 1000,
      kubeletEndpoint: () => streams?.endpoint,
    })
    stops.push(() => nodes.stop())
    await nodes.start()
    http?.nodes(nodes)
    stops.push(() => pods.stop())
    pods.start()

    let tls: CloudHubOptions['tls']
    let authenticate: Authenticator
    let identities: NodeIdentities | undefined
    let serve: CloudHubOptions['serve']
    let renewAt: number | undefined
    let pin: string | undefined
    if (secret !== undefined) {
      log.warn({ code: 'CLOUD_CONFIG_INVALID' }, 'auth.mode is shared-secret: every node presents the same secret and anyone holding it can act as any node; for development only')
      tls = ownTls
      if (tls === undefined) log.warn({ code: 'CLOUD_CONFIG_INVALID' }, 'hub.tls is not set: CloudHub serves plain WebSocket (use only on a trusted network)')
      authenticate = sharedSecretAuthenticator(secret)
    } else {
      const store = await openIdentityStore(config, kube, log)
      pin = store.ca.pin
      const ids = new NodeIdentities({ api: store.api, namespace: store.namespace, ca: store.ca, nodeCertificateSeconds: config.identity.nodeCertificateSeconds, log })
      identities = ids
      stops.push(() => ids.stop())
      await ids.start()
      const serving = await servingTls(config, store.ca)
      renewAt = serving.renewAt
      tls = { cert: serving.cert, key: serving.key, ca: store.ca.pem }
      authenticate = (request, node) => ids.authenticate(request, node)
      serve = bootstrapHandler(ids, store.ca.pem, log)
    }

    if (config.streams !== undefined) {
      const { startStreams } = await import('./cloud-streams.js')
      const started = await startStreams(config.streams, workloads.pods, tls, log)
      streams = started
      stops.push(() => started.stop())
    }
    const tunnels = streams?.tunnels
    const hub = new CloudHub({
      host: config.hub.host,
      port: config.hub.port,
      ...(tls === undefined ? {} : { tls }),
      authenticate,
      ...(serve === undefined ? {} : { serve }),
      sessionLimit: config.hub.sessionLimit,
      keepaliveTimeoutMs: config.hub.keepaliveTimeoutMs,
      resendMs: config.hub.resendMs,
      log,
      onSession: (session: Session) => {
        controller.attach(session)
        nodes.attach(session)
        pods.attach(session)
        if (identities !== undefined) serveRenewals(session, identities)
        // a node's stream tunnel lives as long as its session: revocation and expiry end both
        if (tunnels !== undefined) session.onClose(() => hub.sessions.has(session.node) || tunnels.closeNode(session.node, 'session closed'))
      },
      ...(tunnels === undefined ? {} : { onTunnel: (node: string, socket: WebSocket) => tunnels.accept(node, socket) }),
    })
    stops.push(() => hub.stop())
    const address = await hub.start()
    http?.hub(hub)
    identities?.onRevoked((node, reason) => {
      log.info({ node, code: 'NODE_REVOKED', reason }, 'node revoked')
      hub.closeNode(node, CloseCodes.revoked, 'revoked')
    })
    if (identities !== undefined && renewAt !== undefined) {
      const ids = identities
      stops.push(renewServing(config, ids, hub, renewAt, log, streams?.hubCertificate === true ? streams.server : undefined))
    }

    if (http !== undefined) stops.push(() => Promise.resolve(http.stopping()))

    const counts = { devices: controller.informers.devices.list().length, models: controller.informers.models.list().length }
    const joined = identities?.expiries().length
    log.info({ hub: { host: address.address, port: address.port, tls: tls !== undefined }, ...(http === undefined ? {} : { http: http.server.address }), ...(streams === undefined ? {} : { streams: streams.endpoint }), auth: config.auth.mode, ...(pin === undefined ? {} : { caPin: pin, nodes: joined }), ...counts, startMs: Date.now() - started }, 'cloud ready')
    return { hub, controller, nodes, pods, identities, streams, port: address.port, http, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/**
 * On a Lease renewal that got no answer, closes every connection to the API server (the kubelet's
 * closeAllConns on heartbeat failure): the renewal and everything behind it waited on a connection
 * that went silent. At most once per `intervalMs`, however many nodes' renewals fail together.
 */
function heartbeatFailure(kube: Parameters<typeof closeApiConnections>[0], intervalMs: number, log: Logger): (err: KubeRequestError) => void {
  let last = -Infinity
  return (err) => {
    const now = Date.now()
    if (now - last < intervalMs) return
    last = now
    const closed = closeApiConnections(kube)
    log.warn({ part: 'cloud', code: 'CLOUD_KUBE_UNAVAILABLE', closed, err: err.message }, 'a node Lease renewal got no answer: closed every connection to the API server')
  }
}

/** The metrics and health listener, unless `http: false`; up before the informers sync, so /readyz says what is awaited. */
async function startHttp(config: CloudConfig, log: Logger, onStop: (step: () => Promise<void>) => void): Promise<CloudObservability | undefined> {
  const listener = resolveHttp(config.http)
  if (listener === undefined) return undefined
  const { CloudObservability } = await import('../metrics/cloud-observability.js')
  const http = new CloudObservability({ listener, version: ternVersion(), log })
  onStop(() => http.stop())
  await http.start()
  return http
}

/** Renews CloudHub's serving certificate at ~70 % of its lifetime; returns the stop step. */
function renewServing(config: CloudConfig, identities: NodeIdentities, hub: CloudHub, firstAt: number, log: Logger, streams: StreamServer | undefined): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const schedule = (at: number): void => {
    timer = setTimeout(() => void renew(), Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1))
  }
  const renew = async (): Promise<void> => {
    try {
      const serving = await servingTls(config, identities.ca)
      hub.setCertificate(serving)
      streams?.setCertificate(serving)
      log.info('CloudHub serving certificate renewed')
      schedule(serving.renewAt ?? Infinity)
    } catch (err) {
      log.error({ err }, 'cannot renew the CloudHub serving certificate; retrying in a minute')
      schedule(Date.now() + 60_000)
    }
  }
  schedule(firstAt)
  return () => {
    clearTimeout(timer)
    return Promise.resolve()
  }
}
