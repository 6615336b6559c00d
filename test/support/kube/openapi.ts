/**
 * The slice of OpenAPI v3 discovery kubectl needs. `kubectl apply`/`create` (validation on by
 * default) download `/openapi/v3`, then the group-version document, and look for a PATCH
 * operation tagged with the kind's `x-kubernetes-group-version-kind` that takes a
 * `fieldValidation` parameter: if present, validation is left to the server (`fieldValidation=
 * Strict` on every write), otherwise kubectl wants `/openapi/v2` for client-side validation.
 * The patch request body lists no strategic-merge content type, so `kubectl apply` computes a
 * JSON merge patch, as it does against a real server for custom resources. No component schemas
 * are published (so `kubectl explain` does not work against the emulator).
 */
import { createHash } from 'node:crypto'
import type { Json } from './patch.js'
import { groupVersion, type ResourceType } from './registry.js'

function gvPath(t: { group: string; version: string }): string {
  return t.group === '' ? `api/${t.version}` : `apis/${t.group}/${t.version}`
}

const queryParam = (name: string): Json => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } })

function operations(t: ResourceType): Record<string, Json> {
  const gvk = { group: t.group, version: t.version, kind: t.kind }
  const base = t.namespaced ? `/${gvPath(t)}/namespaces/{namespace}/${t.plural}` : `/${gvPath(t)}/${t.plural}`
  const body = { content: Object.fromEntries(['application/json-patch+json', 'application/merge-patch+json'].map((c) => [c, { schema: { type: 'object' } }])) }
  const ok = { responses: { '200': { description: 'OK' } } }
  const write = (action: string): Json => ({
    operationId: `${action}${t.kind}`,
    parameters: [queryParam('dryRun'), queryParam('fieldManager'), queryParam('fieldValidation')],
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
    ...ok,
  })
  const paths: Record<string, Json> = {
    [base]: { post: write('create'), get: { operationId: `list${t.kind}`, 'x-kubernetes-action': 'list', 'x-kubernetes-group-version-kind': gvk, ...ok } },
    [`${base}/{name}`]: { put: write('replace'), patch: { ...(write('patch') as object), requestBody: body } },
  }
  if (t.statusSubresource) paths[`${base}/{name}/status`] = { put: write('replace'), patch: { ...(write('patch') as object), requestBody: body } }
  return paths
}

export function openapiV3Document(path: string, types: ResourceType[]): Json | undefined {
  const served = types.filter((t) => gvPath(t) === path)
  if (served.length === 0) return undefined
  const paths: Record<string, Json> = {}
  for (const t of served) Object.assign(paths, operations(t))
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths, components: { schemas: {} } }
}

export function openapiV3Root(types: ResourceType[]): Json {
  const paths: Record<string, Json> = {}
  for (const t of types) {
    const path = gvPath(t)
    const hash = createHash('sha512').update(JSON.stringify(openapiV3Document(path, types))).digest('hex').toUpperCase()
    paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` }
  }
  return { paths }
}

export { groupVersion }
