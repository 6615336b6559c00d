/** Legacy (non-aggregated) discovery documents, built from the types the emulator serves. */
import type { Json } from './patch.js'
import { groupVersion, type ResourceType } from './registry.js'

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']

export function apiVersions(address: string): Json {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: address }] }
}

function groupOf(name: string, types: ResourceType[]): Json {
  const versions = [...new Set(types.filter((t) => t.group === name).map((t) => t.version))].sort().reverse()
  const entries = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }))
  return { name, versions: entries, preferredVersion: entries[0] ?? null }
}

export function apiGroupList(types: ResourceType[]): Json {
  const groups = [...new Set(types.map((t) => t.group).filter((g) => g !== ''))].sort()
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => groupOf(g, types)) }
}

export function apiGroup(name: string, types: ResourceType[]): Json | undefined {
  if (!types.some((t) => t.group === name)) return undefined
  return { kind: 'APIGroup', apiVersion: 'v1', ...(groupOf(name, types) as object) }
}

export function apiResourceList(group: string, version: string, types: ResourceType[]): Json | undefined {
  const served = types.filter((t) => t.group === group && t.version === version)
  if (served.length === 0) return undefined
  const resources: Json[] = []
  for (const t of served) {
    resources.push({
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: VERBS,
      ...(t.shortNames.length > 0 ? { shortNames: t.shortNames } : {}),
      ...(t.categories.length > 0 ? { categories: t.categories } : {}),
    })
    if (t.statusSubresource) resources.push({ name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] })
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion({ group, version }), resources }
}

export const VERSION_INFO: Json = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-tern-emulator',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23.0',
  compiler: 'gc',
  platform: 'linux/amd64',
}
