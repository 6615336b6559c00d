/**
 * The embedded broker's metrics, read from its own counters when scraped (broker/limits.ts,
 * broker/traffic.ts, broker/offline-queue.ts): nothing here runs per message.
 */
import type { EdgeBroker } from '../../broker/broker.js'
import { countedBy, gaugedBy, type Registry, type Sample } from '../prom.js'

const QOS = [0, 1, 2] as const

export function brokerMetrics(registry: Registry, broker: EdgeBroker): void {
  const read = <L extends string>(f: (b: EdgeBroker) => Array<Sample<L>>) => (): Array<Sample<L>> => f(broker)
  gaugedBy(registry, { name: 'tern_mqtt_connections', help: 'Network connections open to the embedded broker, over every listener', read: read((b) => [[{}, b.connections]]) })
  gaugedBy(registry, { name: 'tern_mqtt_clients', help: 'MQTT clients connected (CONNECT accepted), in-process parts not counted', read: read((b) => [[{}, b.aedes.connectedClients]]) })
  countedBy(registry, {
    name: 'tern_mqtt_messages_received_total',
    help: 'PUBLISH packets the broker accepted, from clients and in-process parts (the twin, mappers), by QoS; ones refused by the ACL not counted',
    labelNames: ['qos'],
    read: read((b) => QOS.map((q) => [{ qos: q }, b.traffic.received[q]])),
  })
  countedBy(registry, {
    name: 'tern_mqtt_messages_sent_total',
    help: 'PUBLISH packets handed to client connections, by the QoS they were sent at',
    labelNames: ['qos'],
    read: read((b) => QOS.map((q) => [{ qos: q }, b.traffic.sent[q]])),
  })
  countedBy(registry, {
    name: 'tern_mqtt_messages_dropped_total',
    help: 'Messages not delivered because of a limit: client_backed_up = QoS 0 for a client not reading its connection; queue_full = QoS 1/2 past maxQueuedMessages/Bytes of a clean session; offline_queue_full = for an offline persistent session past its limits; store_unavailable = the session store could not write (disk full)',
    labelNames: ['reason'],
    read: read((b) => [
      [{ reason: 'client_backed_up' }, b.limits.qos0Dropped],
      [{ reason: 'queue_full' }, b.limits.queueFullDropped],
      [{ reason: 'offline_queue_full' }, b.sessionStats.droppedOverLimit],
      [{ reason: 'store_unavailable' }, b.sessionStats.droppedStoreUnavailable],
    ]),
  })
  countedBy(registry, {
    name: 'tern_mqtt_messages_deferred_total',
    help: 'QoS 1/2 messages for an online persistent session whose queue was full, left in its session for its next connection',
    read: read((b) => [[{}, b.limits.queueFullKept]]),
  })
  countedBy(registry, {
    name: 'tern_mqtt_disconnects_total',
    help: 'Connections the broker closed because of a limit: stall_timeout (took nothing from a backed-up connection for 30 s), max_packet_size, connect_phase_size (64 KiB before CONNACK), connect_timeout (no CONNECT in 10 s), max_connections (closed at once)',
    labelNames: ['limit'],
    read: read((b) => [
      [{ limit: 'stall_timeout' }, b.limits.stalledDisconnects],
      [{ limit: 'max_packet_size' }, b.limits.packetTooLarge],
      [{ limit: 'connect_phase_size' }, b.limits.connectPhaseTooLarge],
      [{ limit: 'connect_timeout' }, b.limits.connectTimeouts],
      [{ limit: 'max_connections' }, b.limits.connectionsRefused],
    ]),
  })
}
