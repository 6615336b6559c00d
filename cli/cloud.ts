/**
 * The cloud side's composition root (`tern cloud`): one validated config in; the Device/DeviceModel
 * controllers (informers, downstream, upstream) start first and sync, then CloudHub opens for edge
 * nodes; stop runs in reverse.
 */
import type { Logger } from 'pino'
import { CloudController } from '../cloud-sync/cloud/controller.js'
import { loadKubeConfig } from '../cloud-sync/cloud/kube-api.js'
import { sharedSecretAuthenticator } from '../cloud-sync/link/auth.js'
import { CloudHub } from '../cloud-sync/link/cloud-hub.js'
import type { CloudConfig } from '../schemas/cloud-config.js'
import { readNamedFile, readSecret } from './config.js'
import { stopSteps } from './stops.js'

export interface CloudSide {
  readonly hub: CloudHub
  readonly controller: CloudController
  readonly port: number
  stop(): Promise<void>
}

export async function startCloud(config: CloudConfig, log: Logger): Promise<CloudSide> {
  const started = Date.now()
  const stops = stopSteps(log)
  const stop = stops.stop
  try {
    const secret = await readSecret(config.auth.secretFile, 'TERN_CLOUD_SECRET')
    const readTls = (path: string): Promise<Buffer> => readNamedFile(path, 'the CloudHub TLS file', 'CLOUD_CONFIG_INVALID')
    const tls = config.hub.tls === undefined ? undefined : { cert: await readTls(config.hub.tls.cert), key: await readTls(config.hub.tls.key) }
    if (tls === undefined) log.warn({ code: 'CLOUD_CONFIG_INVALID' }, 'hub.tls is not set: CloudHub serves plain WebSocket (use only on a trusted network)')

    const controller = new CloudController({
      kube: loadKubeConfig(config.kube.kubeconfig),
      log,
      qps: config.status.qps,
      burst: config.status.burst,
      workers: config.status.workers,
      syncTimeoutMs: config.kube.syncTimeoutMs,
    })
    stops.push(() => controller.stop())
    await controller.start()

    const hub = new CloudHub({
      host: config.hub.host,
      port: config.hub.port,
      ...(tls === undefined ? {} : { tls }),
      authenticate: sharedSecretAuthenticator(secret),
      sessionLimit: config.hub.sessionLimit,
      keepaliveTimeoutMs: config.hub.keepaliveTimeoutMs,
      resendMs: config.hub.resendMs,
      log,
      onSession: (session) => controller.attach(session),
    })
    stops.push(() => hub.stop())
    const address = await hub.start()

    const counts = { devices: controller.informers.devices.list().length, models: controller.informers.models.list().length }
    log.info({ hub: { host: address.address, port: address.port, tls: tls !== undefined }, ...counts, startMs: Date.now() - started }, 'cloud ready')
    return { hub, controller, port: address.port, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
