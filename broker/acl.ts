/**
 * Topic ACL with Mosquitto's semantics: when rules are configured, anything not granted is denied;
 * a `deny` rule wins over every grant; `%u` and `%c` in a rule stand for the client's username and
 * client id. Subscriptions are checked against read grants when made, and every delivered message
 * is checked again, so a subscription to `#` only ever delivers readable topics (as Mosquitto 2.0).
 * Beyond Mosquitto: `%d` is the username as a device id, and a grant with a placeholder at the
 * device level of `$hw/events/device/…` reaches one device's twin topics in both layouts
 * (acl-device.ts).
 */
import type { AclRule } from '../schemas/config.js'
import { devicePlaceholderLevel, isDeviceId, namesNoOtherDevice } from './acl-device.js'
import { filterWithin, topicMatches } from './topics.js'

export const ANONYMOUS = '$anonymous'

export interface Identity {
  clientId: string
  username: string | undefined
}

export type Access = 'read' | 'write'

/** What one connected client may do; decisions for concrete topics are memoised. */
export interface ClientAccess {
  /** May this client publish to the concrete topic? */
  canPublish(topic: string): boolean
  /** May this client subscribe to the filter? */
  canSubscribe(filter: string): boolean
  /** May this client receive a message published on the concrete topic? */
  canReceive(topic: string): boolean
}

export interface Acl {
  forClient(who: Identity): ClientAccess
  /** True when no rules are configured: every check passes. */
  readonly open: boolean
}

interface ResolvedRule {
  filter: string
  access: AclRule['access']
  /** The one device whose twin topics the rule grants (acl-device.ts); undefined: text match only. */
  device: string | undefined
}

const ALLOW_ALL: ClientAccess = { canPublish: () => true, canSubscribe: () => true, canReceive: () => true }
const DENY_ALL: ClientAccess = { canPublish: () => false, canSubscribe: () => false, canReceive: () => false }
const MEMO_LIMIT = 4096

export function createAcl(rules: readonly AclRule[] | undefined): Acl {
  if (rules === undefined) return { open: true, forClient: () => ALLOW_ALL }
  return {
    open: false,
    forClient: (who) => {
      const own = resolve(rules, who)
      return own === 'deny-all' ? DENY_ALL : clientAccess(own)
    },
  }
}

function resolve(rules: readonly AclRule[], who: Identity): ResolvedRule[] | 'deny-all' {
  const name = who.username ?? ANONYMOUS
  const out: ResolvedRule[] = []
  for (const rule of rules) {
    if (rule.users !== undefined && !rule.users.includes(name)) continue
    const filter = substitute(rule.topic, who)
    const level = devicePlaceholderLevel(rule.topic)
    if (filter !== undefined) out.push({ filter, access: rule.access, device: level === undefined ? undefined : substitute(level, who) })
    // A placeholder that cannot be filled safely grants nothing, and a deny then denies everything.
    else if (rule.access === 'deny') return 'deny-all'
  }
  return out
}

function clientAccess(rules: readonly ResolvedRule[]): ClientAccess {
  const decide = (access: Access, topic: string): boolean => {
    let granted = false
    for (const rule of rules) {
      if (!topicMatches(rule.filter, topic)) continue
      // A deny keeps its text meaning, the wider one; a device grant stops at its own device.
      if (rule.access === 'deny') return false
      if (rule.device !== undefined && !namesNoOtherDevice(topic, rule.device)) continue
      if (rule.access === 'readwrite' || rule.access === access) granted = true
    }
    return granted
  }
  const memo = (access: Access): ((topic: string) => boolean) => {
    const seen = new Map<string, boolean>()
    return (topic) => {
      let allowed = seen.get(topic)
      if (allowed === undefined) {
        if (seen.size >= MEMO_LIMIT) seen.clear()
        allowed = decide(access, topic)
        seen.set(topic, allowed)
      }
      return allowed
    }
  }
  return {
    canPublish: memo('write'),
    canReceive: memo('read'),
    canSubscribe: (filter) => {
      // Partial overlaps with a deny are allowed here; the per-message canReceive check filters them.
      const denied = rules.some((r) => r.access === 'deny' && filterWithin(filter, r.filter))
      return !denied && rules.some((r) => (r.access === 'read' || r.access === 'readwrite') && filterWithin(filter, r.filter) && staysOnDevice(filter, r))
    },
  }
}

/**
 * A concrete filter is decided as a topic; one with wildcards is granted inside the rule's text,
 * and each delivery through it is checked again (canReceive), which stops at the rule's device.
 */
function staysOnDevice(filter: string, rule: ResolvedRule): boolean {
  return rule.device === undefined || /[+#]/.test(filter) || namesNoOtherDevice(filter, rule.device)
}

/**
 * Fills `%u` / `%c` / `%d`. A value containing a topic separator or wildcard would let a client
 * widen its own grant (a username `a/#`), so such a rule is not applied at all (Mosquitto does the
 * same); `%d` may hold one separator, as a `<namespace>/<name>` device id.
 */
function substitute(pattern: string, who: Identity): string | undefined {
  if (!pattern.includes('%')) return pattern
  let failed = false
  const out = pattern.replace(/%([ucd])/g, (_m, key: string) => {
    const value = key === 'c' ? who.clientId : who.username
    const fits = value !== undefined && (key === 'd' ? isDeviceId(value) : value !== '' && !/[/+#]/.test(value))
    if (!fits) failed = true
    return value ?? ''
  })
  return failed ? undefined : out
}
