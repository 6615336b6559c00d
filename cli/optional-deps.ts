/**
 * Packages a gateway installs only when it uses them: `npm install -g tern-edge` brings the edge
 * with Modbus; OPC-UA, Bluetooth LE, Edged (containers through the CRI) and `tern cloud` need packages declared as optional peer
 * dependencies in package.json (large, and useless on most gateways). A command that needs one
 * checks for it before it starts anything and fails with the npm command that adds it, instead of
 * failing with a module-resolution stack trace when a device first connects.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { TernError } from '../schemas/tern-error.js'
import { packageRoot } from './package.js'

/** What needs which packages (each imported by name from tern's own code). */
const NEEDS: Record<string, readonly string[]> = {
  opcua: ['node-opcua'],
  bluetooth: ['node-ble', 'dbus-next'],
  cloud: ['@kubernetes/client-node'],
  edged: ['@grpc/grpc-js', '@grpc/proto-loader'],
}

/** The packages `feature` needs that cannot be resolved from tern's installed location. */
export function missingPackages(feature: string): string[] {
  return (NEEDS[feature] ?? []).filter((name) => {
    try {
      import.meta.resolve(name)
      return false
    } catch {
      return true
    }
  })
}

/** The versions tern was built and tested with (package.json peerDependencies). */
function versionRange(name: string): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { peerDependencies?: Record<string, string> }
    return pkg.peerDependencies?.[name]
  } catch {
    return undefined
  }
}

/** The DEPENDENCY_MISSING error for what `features` lack (named by `who`), or undefined when nothing is missing. */
export function dependencyProblem(who: string, features: readonly string[]): TernError | undefined {
  const missing = [...new Set(features.flatMap(missingPackages))]
  if (missing.length === 0) return undefined
  const specs = missing.map((name) => {
    const range = versionRange(name)
    return range === undefined ? name : `'${name}@${range}'`
  })
  return new TernError(
    'DEPENDENCY_MISSING',
    `${who} needs ${missing.join(', ')}, which is not installed. Install it beside tern: npm install -g ${specs.join(' ')} ` +
      `(without -g where tern is installed in a project)`,
  )
}
