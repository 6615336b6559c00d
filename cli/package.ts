/**
 * Where the installed package is and what it is called: the folder of tern's package.json, found
 * from this module's own location (cli/ in the sources, dist/cli/ or a chunk below it when built),
 * so the examples and the version are found wherever npm put the package.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

export function packageRoot(from: string = import.meta.dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`)
  }
}

function packageJson(): { name?: string; version?: string } {
  return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { name?: string; version?: string }
}

/** `<name> <version>` of the package, as `tern --version` prints it. */
export function packageVersion(): string {
  const pkg = packageJson()
  return `${pkg.name ?? 'tern'} ${pkg.version ?? 'unknown'}`
}

/** tern's version alone (`0.1.0`), as the node reports it in its Node's kubeletVersion. */
export function ternVersion(): string {
  return packageJson().version ?? '0.0.0'
}
