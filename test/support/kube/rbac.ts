/** tern cloud's RBAC as deployed (deploy/cloud/10-rbac.yaml), for emulators that enforce it. */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseAllDocuments } from 'yaml'
import type { PolicyRule } from './server.js'

const root = resolve(import.meta.dirname, '../../..')

/**
 * The rules of the ClusterRole and the Role in deploy/cloud/10-rbac.yaml (the emulator's RBAC has
 * no namespaces: the Role's rules apply everywhere, so tests put tern's objects in its namespace).
 */
export async function ternCloudRules(): Promise<PolicyRule[]> {
  const docs = parseAllDocuments(await readFile(join(root, 'deploy/cloud/10-rbac.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; rules?: PolicyRule[] })
  const role = docs.find((d) => d.kind === 'ClusterRole')
  assert.ok(role?.rules !== undefined, 'deploy/cloud/10-rbac.yaml has a ClusterRole with rules')
  return [...role.rules, ...docs.filter((d) => d.kind === 'Role').flatMap((d) => d.rules ?? [])]
}

