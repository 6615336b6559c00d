/**
 * The edge node's composition root: one validated config in, parts built and started in order,
 * stopped in reverse: node LevelDB → MQTT bus (embedded broker or external) → DeviceTwin →
 * in-process mappers (`mappers.enabled`, on the same bus) → devices from local manifests or from
 * the cloud (EdgeHub, `cloud`) → Edged (`edged`: pods through containerd's CRI).
 */
import { mkdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Level } from 'level'
import type { Logger } from 'pino'
import { EdgeBroker } from '../broker/broker.js'
import { aedesBus, externalBus, type Bus } from '../broker/bus.js'
import type { BoundListener } from '../broker/listeners.js'
import type { CloudLinkConfig, EdgeConfig } from '../schemas/config.js'
import { TernError } from '../schemas/tern-error.js'
import { protocolFactory, protocolNames } from '../mappers/protocols.js'
import { realClock } from '../mappers/runtime/clock.js'
import type { Mapper } from '../mappers/runtime/mapper.js'
import type { EdgeCloud } from '../cloud-sync/edge/edge-cloud.js'
import type { EdgeObservability } from '../metrics/edge-observability.js'
import { resolveHttp } from '../schemas/http-listener.js'
import type { Edged } from '../edged/edged.js'
import { DeviceTwin } from '../twin/device-twin.js'
import type { ManifestCacheSpaces } from '../twin/manifest-dir.js'
import { LevelStore } from '../twin/store.js'
import type { TwinSpaces } from '../twin/stored-device.js'
import { readNamedFile, readSecret } from './config.js'
import { ternVersion } from './package.js'
import { stopSteps } from './stops.js'

export interface EdgeNode {
  readonly bus: Bus
  readonly twin: DeviceTwin
  readonly mappers: readonly Mapper[]
  readonly listeners: BoundListener[]
  readonly edged: Edged | undefined
  /** the metrics and health listener (absent with `http: false`) */
  readonly http: EdgeObservability | undefined
  stop(): Promise<void>
}

export async function startEdge(config: EdgeConfig, log: Logger): Promise<EdgeNode> {
  const started = Date.now()
  const dataDir = resolve(config.dataDir)
  const stops = stopSteps(log)
  const stop = stops.stop
  try {
    const db = await openStore(dataDir)
    stops.push(() => db.close())
    const http = await startHttp(config, log, stops.push)

    let bus: Bus
    let listeners: BoundListener[] = []
    if (config.mqtt.mode === 'embedded') {
      const broker = new EdgeBroker({ config: config.mqtt, db, log })
      stops.push(() => broker.stop())
      await broker.start()
      listeners = broker.listeners
      http?.broker(broker)
      bus = aedesBus(broker.aedes, log.child({ part: 'bus' }))
    } else {
      const external = config.mqtt.external
      if (external === undefined) throw new TernError('CONFIG_INVALID', 'mqtt.mode is external but mqtt.external.url is not set')
      bus = await externalBus(external, `tern-edge-${config.node.name}`, log.child({ part: 'bus' }))
      log.info({ url: external.url }, 'connected to the external MQTT broker')
    }
    stops.push(() => bus.stop())
    http?.readiness.met('bus')

    const link = config.cloud
    if (link !== undefined && config.twin.manifestsDir !== undefined) {
      throw new TernError('CONFIG_INVALID', 'twin.manifestsDir and cloud are both set: a node takes its devices from one of them')
    }
    const store = new LevelStore<TwinSpaces>(db, link === undefined ? ['device', 'twin'] : ['device', 'twin', 'outbox'], { sync: config.twin.fsync, ...(http === undefined ? {} : { onWrite: http.twin.storeWrite }) })
    // Parts a node may not use are loaded only when configured: their modules cost memory (DESIGN §8).
    let cloud: EdgeCloud | undefined
    let edged: Edged | undefined
    if (link !== undefined) {
      const { EdgeCloud } = await import('../cloud-sync/edge/edge-cloud.js')
      const { edgedRuntimeState } = await import('../cloud-sync/edge/node-status.js')
      cloud = new EdgeCloud({
        db,
        store,
        link,
        ...(await linkCredentials(link, log)),
        ...(link.ca === undefined ? {} : { ca: await readNamedFile(link.ca, 'cloud.ca', 'CLOUD_CONFIG_INVALID') }),
        nodeName: config.node.name,
        nodeStatus: config.node.status,
        ...(config.edged?.nodeIP === undefined ? {} : { nodeIP: config.edged.nodeIP }),
        runtime: () => edgedRuntimeState(config.edged !== undefined, edged, config.edged?.runtimeEndpoint),
        dataDir,
        ternVersion: ternVersion(),
        layout: config.twin.topicLayout,
        fsync: config.twin.fsync,
        bus,
        log: log.child({ part: 'cloud' }),
      })
      await cloud.prepare()
    }
    const observer = http === undefined ? {} : { observer: http.twin.observer }
    const twin = new DeviceTwin({ bus, store, nodeName: config.node.name, layout: config.twin.topicLayout, limits: config.twin, log, ...observer, ...(cloud === undefined ? {} : { changes: cloud.marks }) })
    stops.push(() => store.close())
    stops.push(() => twin.stop())
    await twin.start()

    // before the mappers: the web view hears their first counters
    if (http !== undefined && config.http !== false && config.http.ui === true) await startWebView(http, { bus, twin, config, log }, stops.push)

    const mappers = await startMappers(config, bus, dataDir, log, stops.push)
    http?.mappers(mappers)

    const manifestsDir = config.twin.manifestsDir
    if (manifestsDir !== undefined) {
      // loaded here, with the Device and DeviceModel validators it brings: a node without manifestsDir never reads a manifest
      const { ManifestDir } = await import('../twin/manifest-dir.js')
      const manifests = new ManifestDir({
        dir: resolve(manifestsDir),
        nodeName: config.node.name,
        layout: config.twin.topicLayout,
        log: log.child({ part: 'manifests' }),
        onChange: (devices) => twin.setMembers(devices),
        cache: new LevelStore<ManifestCacheSpaces>(db, ['manifests'], { prefix: 'twin-' }),
      })
      stops.push(() => manifests.stop())
      await twin.setMembers(await manifests.start())
    }

    http?.devices(twin)

    if (cloud !== undefined) {
      stops.push(() => cloud.stop())
      await cloud.start(twin)
      http?.cloud(cloud)
      const workloads = cloud.workloads
      if (config.edged === undefined && workloads !== undefined) {
        const { finishDeletedPods } = await import('../cloud-sync/edge/podless-node.js')
        finishDeletedPods(workloads, (pod) => cloud.podTerminated(pod))
      }
    }

    if (config.edged !== undefined) {
      // a node without the edged: section loads nothing of edged or gRPC
      const { startEdged } = await import('../edged/start.js')
      const workloads = cloud?.workloads
      const edgeCloud = cloud
      const pods = cloud?.pods
      edged = await startEdged({
        config: config.edged,
        dataDir,
        nodeName: config.node.name,
        db,
        log,
        ...(workloads === undefined || edgeCloud === undefined ? {} : { cloud: workloads, onPodTerminated: (pod) => edgeCloud.podTerminated(pod) }),
        ...(pods === undefined || edgeCloud === undefined
          ? {}
          : { hooks: { onPodStatus: pods.status.bind(pods), recorder: pods.recorder, admission: edgeCloud.admission, onRuntimeChange: () => edgeCloud.nodeStatusChanged(), hostIP: () => edgeCloud.internalIP } }),
      })
      // the runtime may have answered before `edged` was set, which the Node's runtime state reads
      cloud?.nodeStatusChanged()
      const running = edged
      stops.push(() => running.stop())
      http?.edged(edged)
      if (cloud !== undefined) {
        // after an outage the cluster's copy of pod status may be stale or overwritten (the node lifecycle controller's Ready=False)
        cloud.onLinked(() => running.reassertStatuses())
        const { serveStreams } = await import('./edge-streams.js')
        stops.push(await serveStreams(cloud, running, config.edged, dataDir, log))
      }
    }
    if (http !== undefined) stops.push(() => Promise.resolve(http.stopping()))

    const certificate = cloud?.certificate
    log.info(
      { node: config.node.name, dataDir, mode: config.mqtt.mode, listeners, ...(http === undefined ? {} : { http: http.server.address }), devices: twin.devices.size, mappers: config.mappers.enabled, edged: edged !== undefined, ...(certificate === undefined ? {} : { certificate }), startMs: Date.now() - started },
      'edge node ready',
    )
    return { bus, twin, mappers, listeners, edged, http, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** The metrics and health listener, unless `http: false` (then nothing of it, nor prom-client, is loaded). */
async function startHttp(config: EdgeConfig, log: Logger, onStop: (step: () => Promise<void>) => void): Promise<EdgeObservability | undefined> {
  const listener = resolveHttp(config.http)
  if (listener === undefined) return undefined
  const { EdgeObservability } = await import('../metrics/edge-observability.js')
  const http = new EdgeObservability({ listener, version: ternVersion(), log })
  onStop(() => http.stop())
  await http.start()
  return http
}

/** The web view on the HTTP listener (`http.ui`); its code is loaded only then. */
async function startWebView(http: EdgeObservability, parts: { bus: Bus; twin: DeviceTwin; config: EdgeConfig; log: Logger }, onStop: (step: () => Promise<void>) => void): Promise<void> {
  const { WebView } = await import('../web/web-view.js')
  const { bus, twin, config, log } = parts
  const view = new WebView({ bus, twin, nodeName: config.node.name, users: config.mqtt.users, acl: config.mqtt.acl, log })
  onStop(() => view.stop())
  await view.start()
  http.server.mount((req, res) => view.handle(req, res))
}

/** The node's certificate and key (`tern join`), or, for development, the shared secret (warned about at every start). */
async function linkCredentials(link: CloudLinkConfig, log: Logger): Promise<{ identity: { cert: string; key: string } } | { secret: string }> {
  if (link.cert !== undefined || link.key !== undefined) {
    if (link.cert === undefined || link.key === undefined) throw new TernError('CLOUD_CONFIG_INVALID', 'cloud.cert and cloud.key go together')
    if (link.ca === undefined) throw new TernError('CLOUD_CONFIG_INVALID', 'cloud.cert needs cloud.ca, the fleet CA (tern join writes all three)')
    const { pairMatches, recoverNodeFiles } = await import('../cloud-sync/identity/node-files.js')
    await recoverNodeFiles({ cert: link.cert, key: link.key }, log.child({ part: 'cloud' }))
    const read = async (path: string, what: string): Promise<string> => (await readNamedFile(path, what, 'CLOUD_CONFIG_INVALID')).toString('utf8')
    const identity = { cert: await read(link.cert, 'cloud.cert'), key: await read(link.key, 'cloud.key') }
    if (!pairMatches(identity.key, identity.cert)) throw new TernError('CLOUD_CONFIG_INVALID', `${link.key} is not the key of the certificate in ${link.cert} (files from different joins?); join the node again (tern reset, tern join)`)
    return { identity }
  }
  const secret = await readSecret(link.secretFile, 'TERN_CLOUD_SECRET')
  log.warn({ code: 'CLOUD_CONFIG_INVALID' }, 'the cloud link uses a shared secret, not a node certificate: for development only (join the node with tern join)')
  return { secret }
}

async function openStore(dataDir: string): Promise<Level<string, unknown>> {
  await mkdir(dataDir, { recursive: true })
  const db = new Level<string, unknown>(resolve(dataDir, 'db'), { valueEncoding: 'json' })
  try {
    await db.open()
  } catch (cause) {
    if ((cause as { cause?: { code?: unknown } }).cause?.code === 'LEVEL_LOCKED') {
      throw new TernError('DATA_DIR_IN_USE', `dataDir ${dataDir} is in use by another tern process: stop it, or give this node its own dataDir`, { cause })
    }
    const detail = (cause as { cause?: Error }).cause?.message ?? (cause as Error).message
    throw new TernError('STORE_OPEN_FAILED', `cannot open the node database in ${dataDir}: ${detail}`, { cause })
  }
  return db
}

/** The mappers of `mappers.enabled`, on the node's bus; the runtime is loaded only when one is enabled. */
async function startMappers(config: EdgeConfig, bus: Bus, dataDir: string, log: Logger, onStop: (step: () => Promise<void>) => void): Promise<Mapper[]> {
  if (config.mappers.enabled.length === 0) return []
  const { Mapper } = await import('../mappers/runtime/mapper.js')
  const { enabled, ...tuning } = config.mappers
  const mappers: Mapper[] = []
  for (const name of enabled) {
    const factory = await protocolFactory(name)
    if (factory === undefined) throw new TernError('MAPPER_PROTOCOL_UNKNOWN', `mappers.enabled names ${name}; known protocols: ${protocolNames().join(', ') || 'none'}`)
    const mapper = new Mapper({ bus, protocol: factory({ dataDir }), nodeName: config.node.name, layout: config.twin.topicLayout, log, clock: realClock, dataDir, options: tuning })
    onStop(() => mapper.stop())
    // The twin answers membership/get at once; a mapper started before the devices are loaded
    // learns them from membership/updated.
    await mapper.start()
    mappers.push(mapper)
  }
  return mappers
}
