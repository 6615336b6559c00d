/**
 * ACL rules that name one device: `$hw/events/device/%d/<rest>` (and `%u` or `%c` in that place).
 *
 * A device id is one topic level (`<name>`) or two (`<namespace>/<name>`), so filling the placeholder
 * as text cannot hold in both layouts: `$hw/events/device/%u/#` for a user named `default` would also
 * match `$hw/events/device/default/meter-2/…`, every device of namespace `default`. A device rule
 * instead reads a topic as a DeviceTwin topic (schemas/topics.ts `parseTopic`, which finds the id by
 * the known suffix) and matches only when the topic names exactly the client's device and its suffix
 * matches `<rest>`. Topics with an unknown suffix have no readable device id and never match.
 */
import { HW_DEVICE_PREFIX, deviceIdOf, parseDeviceId, parseTopic } from '../schemas/topics.js'
import { filterWithin, topicMatches } from './topics.js'

export interface TopicRule {
  /** Does the rule cover the concrete topic? */
  matches(topic: string): boolean
  /**
   * Is the subscription filter inside the rule? A concrete filter is checked as a topic; one with
   * wildcards needs the device's own id levels, and every delivery is checked again with `matches`.
   */
  covers(filter: string): boolean
}

export type DevicePlaceholder = 'd' | 'u' | 'c'

const DEVICE_RULE = /^\$hw\/events\/device\/%([duc])\/(.+)$/

/** The placeholder and the filter after it, when `pattern` is a device rule. */
export function devicePattern(pattern: string): { placeholder: DevicePlaceholder; rest: string } | undefined {
  const m = DEVICE_RULE.exec(pattern)
  return m === null ? undefined : { placeholder: m[1] as DevicePlaceholder, rest: m[2] as string }
}

/**
 * The device id a placeholder stands for: `%d` reads the username as `<name>` or
 * `<namespace>/<name>`; `%u` and `%c` are one level (a flat-layout name). Undefined when the value
 * cannot be such an id (absent, empty, a wildcard, too many levels): the rule then grants nothing.
 */
export function deviceIdFor(placeholder: DevicePlaceholder, who: { clientId: string; username: string | undefined }): string | undefined {
  const value = placeholder === 'c' ? who.clientId : who.username
  if (value === undefined) return undefined
  const device = parseDeviceId(value)
  if (device === undefined || (placeholder !== 'd' && device.layout !== 'name')) return undefined
  return deviceIdOf(device)
}

export function deviceRule(id: string, rest: string): TopicRule {
  const head = `${HW_DEVICE_PREFIX}${id}/`
  const matches = (topic: string): boolean => {
    const parsed = parseTopic(topic)
    return parsed?.scope === 'device' && deviceIdOf(parsed.device) === id && topicMatches(rest, parsed.suffix)
  }
  return {
    matches,
    covers: (filter) => (/[+#]/.test(filter) ? filter.startsWith(head) && filterWithin(filter.slice(head.length), rest) : matches(filter)),
  }
}

export function plainRule(filter: string): TopicRule {
  return { matches: (topic) => topicMatches(filter, topic), covers: (f) => filterWithin(f, filter) }
}
