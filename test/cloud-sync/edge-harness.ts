/**
 * The edge side of cloud sync as `tern edge` builds it, in process: aedes as the bus, a real
 * DeviceTwin over LevelDB (classic-level in a scratch directory) with the outbox hook, EdgeSync
 * and Outbox; and a fake cloud: a `Session` on the other end of an in-memory wire pair that
 * records what the edge sends and answers by a policy the test sets. `restart()` closes the
 * database and builds a new edge on the same directory (a process restart).
 */
import { join } from 'node:path'
import { Aedes } from 'aedes'
import { Level } from 'level'
import { pino, type Logger } from 'pino'
import { aedesBus, type Bus } from '../../broker/bus.js'
import { errorResponse, message, response, RESYNC_RESOURCE, Sources, type Envelope, type NodeDeviceSet } from '../../cloud-sync/messages.js'
import { Session, wirePair } from '../../cloud-sync/session.js'
import type { CloudObjectSpaces } from '../../cloud-sync/edge/cloud-objects.js'
import { EdgeSync } from '../../cloud-sync/edge/edge-sync.js'
import { Outbox } from '../../cloud-sync/edge/outbox.js'
import { OutboxMarks } from '../../cloud-sync/edge/outbox-marks.js'
import type { Device, DeviceModel } from '../../schemas/device.js'
import { DeviceTwin } from '../../twin/device-twin.js'
import { LevelStore } from '../../twin/store.js'
import type { DeviceRecord, TwinSpaces } from '../../twin/stored-device.js'
import { scratchDir } from '../support/resources.js'

export const NODE = 'edge-1'

export interface Published {
  topic: string
  body: Record<string, unknown>
}

export interface Edge {
  bus: Bus
  twin: DeviceTwin
  marks: OutboxMarks
  outbox: Outbox
  sync: EdgeSync
  log: Logger
  logs: Array<Record<string, unknown>>
  published: Published[]
  /** publishes a JSON payload on the edge bus as an MQTT client would */
  publish(topic: string, body: unknown): Promise<void>
  /** called after each read the outbox makes of a device, with what the read returned (to place a change right after it) */
  afterRead: ((key: string, result: unknown) => void) | undefined
}

/** What the fake cloud does with an upstream request: answer OK, answer an error, or stay silent. */
export type Answer = 'ok' | 'drop' | { code: string }

export interface FakeCloud {
  session: Session
  /** every upstream request received (re-sends included) */
  received: Envelope[]
  /** decides each answer; default: OK */
  answer: (request: Envelope) => Answer
  /** sends a downstream request and resolves with the edge's answer */
  send(operation: string, resource: string, content: unknown, resourceversion?: string): Promise<Envelope>
  resync(set: NodeDeviceSet): Promise<Envelope>
  close(): Promise<void>
}

export interface EdgeHarness {
  edge: Edge
  /** connects a new fake cloud session to the edge (EdgeHub's onSession) */
  connect(options?: { resendMs?: number }): FakeCloud
  /** stops the edge, closes the database, and starts a new edge on the same directory */
  restart(): Promise<Edge>
}

export async function startEdgeHarness(undo: Array<() => Promise<void>>, options: { window?: number; retryMs?: number } = {}): Promise<EdgeHarness> {
  const dir = await scratchDir('tern-edge-sync-')
  undo.push(() => dir.remove())
  let stopEdge: () => Promise<void> = () => Promise.resolve()
  undo.push(() => stopEdge())

  const build = async (): Promise<Edge> => {
    const parts: Array<() => Promise<void>> = []
    stopEdge = async () => {
      for (const fn of parts.splice(0).reverse()) await fn()
    }
    const logs: Array<Record<string, unknown>> = []
    const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) })
    const db = new Level<string, unknown>(join(dir.path, 'db'), { valueEncoding: 'json' })
    await db.open()
    parts.push(() => db.close())
    const aedes = await Aedes.createBroker()
    parts.push(() => new Promise<void>((resolve) => aedes.close(() => resolve())))
    const bus = aedesBus(aedes, log)
    parts.push(() => bus.stop())

    const store = new LevelStore<TwinSpaces>(db, ['device', 'twin', 'outbox'])
    parts.push(() => store.close())
    const marks = new OutboxMarks({ store, log })
    const twin = new DeviceTwin({ bus, store, nodeName: NODE, layout: 'name', log, changes: marks })
    parts.push(() => twin.stop())
    const reads = {
      readDevice: async <T>(key: string, read: (record: DeviceRecord | undefined) => T): Promise<T> => {
        const result = await twin.readDevice(key, read)
        edge.afterRead?.(key, result)
        return result
      },
    }
    const outbox = new Outbox({ marks, twin: reads, log, ...options })
    parts.push(() => outbox.stop())
    const meta = new LevelStore<CloudObjectSpaces>(db, ['meta'], { prefix: 'cloud-' })
    parts.push(() => meta.close())
    const sync = new EdgeSync({ store: meta, nodeName: NODE, layout: 'name', log, onChange: (devices) => twin.setMembers(devices) })
    parts.push(() => sync.stop())

    await marks.start()
    await twin.start()
    const devices = await sync.start()
    if (devices !== undefined) await twin.setMembers(devices)
    outbox.start()

    const published: Published[] = []
    await bus.subscribe('$hw/#', (topic, payload) => {
      published.push({ topic, body: JSON.parse(payload.toString('utf8')) as Record<string, unknown> })
    })
    const publish = (topic: string, body: unknown): Promise<void> => bus.publish(topic, JSON.stringify(body), { qos: 1 })
    const edge: Edge = { bus, twin, marks, outbox, sync, log, logs, published, publish, afterRead: undefined }
    return edge
  }

  const harness: EdgeHarness = {
    edge: await build(),
    connect(connectOptions = {}) {
      const [edgeWire, cloudWire] = wirePair()
      const { log } = harness.edge
      const edgeSession = new Session(edgeWire, { node: NODE, source: Sources.edge, log, resendMs: connectOptions.resendMs ?? 5000 })
      const session = new Session(cloudWire, { node: NODE, source: Sources.cloud, log, resendMs: 5000 })
      const cloud: FakeCloud = {
        session,
        received: [],
        answer: () => 'ok',
        send: (operation, resource, content, resourceversion) =>
          session.request(message({ source: Sources.cloud, group: 'resource', operation, resource }, content, resourceversion === undefined ? {} : { resourceversion })),
        resync: (set) => cloud.send('resync', RESYNC_RESOURCE, set),
        close: async () => {
          session.close()
          await new Promise((resolve) => setImmediate(resolve))
        },
      }
      session.onMessage((request) => {
        cloud.received.push(request)
        const answer = cloud.answer(request)
        if (answer === 'ok') session.send(response(request, Sources.cloud))
        else if (answer !== 'drop') session.send(errorResponse(request, Sources.cloud, { code: answer.code, reason: 'test' }))
      })
      undo.push(() => cloud.close())
      // What EdgeHub's onSession does.
      harness.edge.sync.attach(edgeSession)
      harness.edge.outbox.attach(edgeSession)
      return cloud
    },
    async restart() {
      await stopEdge()
      harness.edge = await build()
      return harness.edge
    },
  }
  return harness
}

// ---- cloud objects ------------------------------------------------------------------------------

export function fanModel(resourceVersion = '1', extra: Array<{ name: string; type: 'INT' | 'STRING' }> = []): DeviceModel {
  return {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'DeviceModel',
    metadata: { name: 'fan-model', namespace: 'default', resourceVersion },
    spec: {
      protocol: 'modbus',
      properties: [
        { name: 'speed', type: 'INT', accessMode: 'ReadWrite', minimum: '0', maximum: '3000' },
        { name: 'label', type: 'STRING', accessMode: 'ReadWrite' },
        ...extra,
      ],
    },
  }
}

export function fan(name: string, options: { desired?: string; resourceVersion?: string; nodeName?: string; label?: boolean } = {}): Device {
  return {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name, namespace: 'default', resourceVersion: options.resourceVersion ?? '1' },
    spec: {
      deviceModelRef: { name: 'fan-model' },
      nodeName: options.nodeName ?? NODE,
      protocol: { protocolName: 'modbus', configData: { slaveID: 1 } },
      properties: [
        { name: 'speed', ...(options.desired === undefined ? {} : { desired: { value: options.desired } }) },
        ...(options.label === true ? [{ name: 'label' }] : []),
      ],
    },
  }
}

/** Resolves once `test` holds, polling every few ms (the parts run concurrently with the test). */
export async function until<T>(what: string, get: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = get()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
