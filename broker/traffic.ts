/**
 * Messages through the broker by QoS, for metrics: one array increment per message, kept always
 * (cheaper than deciding whether anyone reads them).
 */
export interface TrafficCounters {
  /** PUBLISH packets accepted from clients and in-process parts (refused ones not counted), by QoS */
  readonly received: [number, number, number]
  /** PUBLISH packets handed to client connections, by the QoS they were sent at */
  readonly sent: [number, number, number]
}

export function trafficCounters(): TrafficCounters {
  return { received: [0, 0, 0], sent: [0, 0, 0] }
}
