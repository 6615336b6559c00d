/**
 * Registry credentials for a pull from the pod's `imagePullSecrets`, as the kubelet's
 * credentialprovider keyring finds them: each Secret's `.dockerconfigjson` (`{ auths: { KEY: ... } }`)
 * or legacy `.dockercfg` (`{ KEY: ... }`); a KEY (`registry[:port][/path]`, with or without a scheme,
 * `*` allowed per host label) matches an image whose registry, port and repository path prefix
 * match it; the most specific KEY wins, and the first Secret that has one. Docker Hub is
 * `docker.io`, `index.docker.io` and `registry-1.docker.io` alike.
 */
import type { PullAuth } from './images.js'

interface Credential {
  username?: string
  password?: string
  auth?: string
}

interface Key {
  host: string
  port: string
  path: string
}

const DOCKER_HUB = 'docker.io'
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])

/** Registry host, port and repository path of an image reference (distribution/reference's domain split). */
export function imageLocation(image: string): Key {
  const name = image.replace(/@.*$/, '').replace(/:[\w][\w.-]*$/, '')
  const slash = name.indexOf('/')
  const first = slash === -1 ? '' : name.slice(0, slash)
  const isDomain = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())
  if (!isDomain) return { host: DOCKER_HUB, port: '', path: slash === -1 ? `library/${name}` : name }
  const [host = '', port = ''] = splitPort(first)
  return { host: hubOr(host.toLowerCase()), port, path: name.slice(slash + 1) }
}

/** The credentials the pod's pull secrets (their decoded data, in the pod's order) give for `image`, if any. */
export function pullAuthFor(image: string, secrets: ReadonlyArray<Readonly<Record<string, string>> | undefined>): PullAuth | undefined {
  const target = imageLocation(image)
  for (const data of secrets) {
    if (data === undefined) continue
    let best: { key: string; credential: Credential; length: number } | undefined
    for (const [key, credential] of Object.entries(entries(data))) {
      const parsed = parseKey(key)
      if (parsed === undefined || !matches(parsed, target)) continue
      const length = parsed.host.length + parsed.path.length
      if (best === undefined || length > best.length) best = { key, credential, length }
    }
    if (best !== undefined) return toAuth(best.key, best.credential)
  }
  return undefined
}

function entries(data: Readonly<Record<string, string>>): Record<string, Credential> {
  const json = data['.dockerconfigjson'] ?? data['.dockercfg']
  if (json === undefined) return {}
  try {
    const parsed = JSON.parse(json) as unknown
    const auths = data['.dockerconfigjson'] !== undefined ? (parsed as { auths?: unknown } | null)?.auths : parsed
    return typeof auths === 'object' && auths !== null && !Array.isArray(auths) ? (auths as Record<string, Credential>) : {}
  } catch {
    return {}
  }
}

function parseKey(key: string): Key | undefined {
  const bare = key.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '')
  if (bare === '') return undefined
  const slash = bare.indexOf('/')
  const [host = '', port = ''] = splitPort(slash === -1 ? bare : bare.slice(0, slash))
  let path = slash === -1 ? '' : bare.slice(slash + 1)
  const hub = hubOr(host.toLowerCase())
  if (hub === DOCKER_HUB && path === 'v1') path = '' // https://index.docker.io/v1/, docker login's own key
  return { host: hub, port, path }
}

function matches(key: Key, target: Key): boolean {
  if (key.port !== target.port) return false
  const keyLabels = key.host.split('.')
  const targetLabels = target.host.split('.')
  if (keyLabels.length !== targetLabels.length) return false
  if (!keyLabels.every((label, i) => globLabel(label, targetLabels[i] ?? ''))) return false
  return key.path === '' || target.path === key.path || target.path.startsWith(`${key.path}/`)
}

function globLabel(pattern: string, label: string): boolean {
  if (!pattern.includes('*')) return pattern === label
  const re = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^.]*')}$`)
  return re.test(label)
}

function toAuth(key: string, credential: Credential): PullAuth {
  let { username, password } = credential
  if ((username === undefined || password === undefined) && typeof credential.auth === 'string' && credential.auth !== '') {
    const decoded = Buffer.from(credential.auth, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon !== -1) {
      username = decoded.slice(0, colon)
      password = decoded.slice(colon + 1)
    }
  }
  return {
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    serverAddress: key,
  }
}

function splitPort(hostPort: string): [string, string] {
  const m = /^(.*?)(?::(\d+))?$/.exec(hostPort)
  return [m?.[1] ?? hostPort, m?.[2] ?? '']
}

function hubOr(host: string): string {
  return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host
}
