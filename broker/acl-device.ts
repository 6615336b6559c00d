/**
 * ACL rules with a placeholder at the device level of `$hw/events/device/<id>/…` (`%u`, `%c`, `%d`).
 *
 * Mosquitto fills a placeholder as text, so `$hw/events/device/%u/#` for a user named `default`
 * also covers `$hw/events/device/default/meter-2/…`, which in the `<namespace>/<name>` layout
 * (DESIGN §4) is every device of namespace `default`. Such a rule keeps the text match and adds one
 * condition to its grants: a DeviceTwin topic (one with a known suffix, which the twin reads as
 * some device's) must name exactly the device the placeholder was filled with. Every other topic
 * under the prefix is decided as Mosquitto decides it, so the only topics decided differently are
 * `<value>/<name>/<twin suffix>`: the twin topics of namespace `<value>`'s devices. That holds
 * whether or not such a namespace is in use now, so a grant never widens when a device appears.
 */
import { HW_DEVICE_PREFIX, deviceIdOf, parseDeviceId, parseTopic } from '../schemas/topics.js'

/**
 * The device level of `pattern` when it holds a placeholder (`%u`, `meter-%c`, `%d`), else
 * undefined. Filled like the rest of the rule, it is the id of the one device the rule grants.
 */
export function devicePlaceholderLevel(pattern: string): string | undefined {
  if (!pattern.startsWith(HW_DEVICE_PREFIX)) return undefined
  const level = pattern.slice(HW_DEVICE_PREFIX.length).split('/')[0] as string
  return level.includes('%') ? level : undefined
}

/** False only for a DeviceTwin topic (or concrete filter) that names a device other than `device`. */
export function namesNoOtherDevice(topic: string, device: string): boolean {
  const parsed = parseTopic(topic)
  return parsed?.scope !== 'device' || deviceIdOf(parsed.device) === device
}

/** `%d` takes the value as a device id, `<name>` or `<namespace>/<name>`: exactly one or two levels. */
export function isDeviceId(value: string): boolean {
  return parseDeviceId(value) !== undefined
}
