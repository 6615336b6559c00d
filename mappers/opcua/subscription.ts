/**
 * The device's one subscription: created with the publishing interval of its fastest property,
 * one monitored item per property (grouped by sampling interval, at most ITEMS_PER_CALL per
 * CreateMonitoredItems), queue size 1. What the server refuses — the whole subscription, or single
 * monitored items — is returned as `polled`: the driver reads those properties with a real Read.
 */
import type { ClientSession, ClientSubscription, DataValue } from 'node-opcua'
import type { Logger } from 'pino'
import type { DriverError } from '../driver.js'
import { classify, errorMessage, isBad } from './faults.js'
import { within } from './session.js'
import type { OpcuaModule } from './shared.js'

/** CreateMonitoredItems requests carry at most this many items (servers limit a call's operations). */
const ITEMS_PER_CALL = 500

export interface SubscribeOptions {
  readonly m: OpcuaModule
  readonly session: ClientSession
  readonly log: Logger
  readonly publishingIntervalMs: number
  readonly timeoutMs: number
  /** property → its node id and sampling interval */
  readonly items: ReadonlyMap<string, { nodeId: string; samplingMs: number }>
  /** a data change notification of a property */
  onValue(name: string, value: DataValue): void
  /** the subscription published (data or keep-alive) */
  onHeard(): void
  onTerminated(): void
}

export interface Subscribed {
  readonly subscription: ClientSubscription | undefined
  readonly polled: ReadonlySet<string>
  /** how long the subscription may stay silent before it counts as lost, ms */
  readonly silenceMs: number
  /** creating the subscription showed the link is gone */
  readonly lost: DriverError | undefined
}

export async function subscribe(o: SubscribeOptions): Promise<Subscribed> {
  const names = [...o.items.keys()]
  const polled = new Set<string>()
  if (names.length === 0) return { subscription: undefined, polled, silenceMs: Infinity, lost: undefined }
  let subscription: ClientSubscription
  try {
    subscription = await within(
      o.session.createSubscription2({
        requestedPublishingInterval: o.publishingIntervalMs,
        requestedLifetimeCount: 60,
        requestedMaxKeepAliveCount: 10,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 1,
      }),
      o.timeoutMs,
      'create subscription',
    )
  } catch (err) {
    const error = classify(err, false)
    o.log.warn({ code: error.code }, `no subscription (every property is polled): ${error.message}`)
    return { subscription: undefined, polled: new Set(names), silenceMs: Infinity, lost: error.connectionLost ? error : undefined }
  }
  subscription.on('keepalive', () => o.onHeard())
  subscription.on('received_notifications', () => o.onHeard())
  subscription.on('terminated', () => o.onTerminated())
  const bySampling = new Map<number, string[]>()
  for (const [name, item] of o.items) bySampling.set(item.samplingMs, [...(bySampling.get(item.samplingMs) ?? []), name])
  for (const [samplingInterval, all] of bySampling) {
    for (let i = 0; i < all.length; i += ITEMS_PER_CALL) {
      const chunk = all.slice(i, i + ITEMS_PER_CALL)
      try {
        const group = await within(
          subscription.monitorItems(
            chunk.map((name) => ({ nodeId: o.items.get(name)?.nodeId ?? '', attributeId: o.m.AttributeIds.Value })),
            { samplingInterval, queueSize: 1, discardOldest: true },
            o.m.TimestampsToReturn.Both,
          ),
          o.timeoutMs,
          'create monitored items',
        )
        group.on('changed', (_item, dataValue, index) => {
          const name = chunk[index]
          if (name !== undefined) o.onValue(name, dataValue)
        })
        group.monitoredItems.forEach((item, j) => {
          const name = chunk[j]
          if (name !== undefined && isBad(item.statusCode)) {
            polled.add(name)
            o.log.warn({ property: name, status: item.statusCode.name }, 'monitored item refused; the property is polled')
          }
        })
      } catch (err) {
        for (const name of chunk) polled.add(name)
        o.log.warn({ err: errorMessage(err) }, 'monitored items refused; these properties are polled')
      }
    }
  }
  // Part 4 §5.13.1: a subscription publishes at least every maxKeepAliveCount publishing intervals
  const silenceMs = Math.max(3000, 3 * subscription.publishingInterval * subscription.maxKeepAliveCount)
  return { subscription, polled, silenceMs, lost: undefined }
}
