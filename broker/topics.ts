/** MQTT 3.1.1 topic filter rules (§4.7), shared by the ACL and anything else that matches topics. */

/** Does `filter` match the concrete `topic`? A leading wildcard never matches a `$` topic [MQTT-4.7.2-1]. */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    const level = f[i]
    if (level === '#') return true // also matches the parent level [MQTT-4.7.1-2]
    if (i >= t.length) return false
    if (level !== '+' && level !== t[i]) return false
  }
  return f.length === t.length
}

/**
 * Is every topic that the subscription `filter` can match also matched by `allowed`?
 * Used to decide whether a subscription stays inside what an ACL rule grants.
 */
export function filterWithin(filter: string, allowed: string): boolean {
  if (!filter.startsWith('$') && allowed.startsWith('$')) return false
  if (filter.startsWith('$') && (allowed.startsWith('+') || allowed.startsWith('#'))) return false
  const f = filter.split('/')
  const a = allowed.split('/')
  for (let i = 0; i < f.length; i++) {
    const al = a[i]
    const fl = f[i]
    if (al === '#') return true
    if (al === undefined) return false
    if (fl === '#') return false
    if (al === '+') continue
    if (fl === '+' || fl !== al) return false
  }
  return f.length === a.length || (a.length === f.length + 1 && a[f.length] === '#')
}

