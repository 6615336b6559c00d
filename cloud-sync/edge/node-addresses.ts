/**
 * The host's own addresses as the kernel lists them in /proc/net: the IPv4 ones are its local
 * host routes (`fib_trie`, "/32 host LOCAL"), the IPv6 ones `if_inet6`. Both are read as files, on
 * libuv's thread pool, and the kernel prints them under RCU, without the RTNL lock: unlike
 * os.networkInterfaces(), a netlink dump on the event loop that waits for that lock, which
 * container networking holds while pods start or go. Loopback and link-local addresses are left
 * out (a pod's veth brings a link-local one at every start). And the rules for an address given as
 * the node's own (edged.nodeIP, the kubelet's --node-ip).
 */
import { readFile } from 'node:fs/promises'
import { BlockList, isIP } from 'node:net'

/** The canonical text of an IPv4 or IPv6 address (IPv6 compressed, lower case); undefined if it is none. */
export function canonicalIP(address: string): string | undefined {
  const family = isIP(address)
  if (family === 4) return address
  // the WHATWG URL parser serializes IPv6 in RFC 5952's form
  return family === 6 ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : undefined
}

function blockList(nets: readonly string[]): BlockList {
  const list = new BlockList()
  for (const net of nets) {
    const [address = '', prefix = ''] = net.split('/')
    list.addSubnet(address, Number(prefix), address.includes(':') ? 'ipv6' : 'ipv4')
  }
  return list
}

const loopback = blockList(['127.0.0.0/8', '::1/128'])

/** The /32 local host routes of `/proc/net/fib_trie`: the IPv4 addresses of this host's interfaces. */
export function fibTrieAddresses(text: string): string[] {
  const found = new Set<string>()
  let leaf = ''
  for (const line of text.split('\n')) {
    const node = /^\s*\|-- (\S+)$/.exec(line)
    if (node !== null) leaf = node[1] ?? ''
    else if (/^\s*\/32 host LOCAL$/.test(line) && !loopback.check(leaf, 'ipv4')) found.add(leaf)
  }
  return [...found]
}

const SCOPE_HOST = 0x10
const SCOPE_LINK = 0x20

/** The addresses of `/proc/net/if_inet6` (hex address, index, prefix, scope, flags, name) but host and link scope. */
export function inet6Addresses(text: string): string[] {
  const found: string[] = []
  for (const line of text.split('\n')) {
    const [hex = '', , , scope = ''] = line.trim().split(/\s+/)
    if (!/^[0-9a-f]{32}$/.test(hex) || [SCOPE_HOST, SCOPE_LINK].includes(Number.parseInt(scope, 16))) continue
    const address = canonicalIP(hex.replace(/(.{4})(?!$)/g, '$1:'))
    if (address !== undefined && !loopback.check(address, 'ipv6')) found.push(address)
  }
  return found
}

async function procFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch {
    return undefined
  }
}

/** This host's addresses, sorted; undefined where /proc/net/fib_trie cannot be read (not Linux). */
export async function hostAddresses(): Promise<string[] | undefined> {
  // if_inet6 is absent on a kernel booted without IPv6: no IPv6 addresses then
  const [v4, v6] = await Promise.all([procFile('/proc/net/fib_trie'), procFile('/proc/net/if_inet6')])
  if (v4 === undefined) return undefined
  return [...fibTrieAddresses(v4), ...inet6Addresses(v6 ?? '')].sort()
}

const refused: ReadonlyArray<readonly [string, BlockList]> = [
  ['the unspecified address', blockList(['0.0.0.0/32', '::/128'])],
  ['a loopback address', loopback],
  ['a link-local address', blockList(['169.254.0.0/16', 'fe80::/10'])],
  ['a multicast address', blockList(['224.0.0.0/4', 'ff00::/8'])],
]

/**
 * Why `address` cannot be a node's own address, or undefined when it can: an IP address that is not
 * unspecified, loopback, link-local or multicast (the kubelet's checks of --node-ip).
 */
export function nodeIPProblem(address: string): string | undefined {
  const canonical = canonicalIP(address)
  if (canonical === undefined) return `${JSON.stringify(address)} is not an IPv4 or IPv6 address`
  const family = canonical.includes(':') ? 'ipv6' : 'ipv4'
  const hit = refused.find(([, list]) => list.check(canonical, family))
  return hit === undefined ? undefined : `${address} is ${hit[0]}`
}
