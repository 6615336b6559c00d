/**
 * The built package laid out as `npm install -g --omit=dev` lays it out
 * (`<prefix>/lib/node_modules/tern-edge` with `dist/`, `package.json` and its production dependencies
 * in its own `node_modules`), for tests that run `tern` as another user. Such a user often cannot
 * reach the checkout: CI clones into directories whose modes nobody controls (a checkout under
 * root's 0700 home is common), and Node then reports MODULE_NOT_FOUND for the command itself.
 * The dependencies are copied from the checkout's node_modules (the versions package-lock.json
 * pins), so no registry is needed.
 */
import { cp, mkdir, readFile, realpath, stat } from 'node:fs/promises'
import { basename, dirname, join, relative, resolve, sep } from 'node:path'

const ROOT = resolve(import.meta.dirname, '../..')

interface Manifest {
  name?: string
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
}

async function manifest(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Manifest
}

async function isDir(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  )
}

/** Where Node finds package `name` required from `from`: the nearest `node_modules/<name>` above it. */
async function lookup(name: string, from: string): Promise<string | undefined> {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name)
    if (basename(dir) !== 'node_modules' && (await isDir(candidate))) return candidate
    if (dirname(dir) === dir) return undefined
  }
}

/**
 * Installs the checkout's build (run `npm run build` first) under `prefix`; returns the path of the
 * installed `tern` command (`dist/cli/tern.js`). `prefix` and its parents must be readable by the
 * user who runs it; everything made here is world-readable.
 */
export async function installBuiltPackage(prefix: string): Promise<string> {
  const target = join(prefix, 'lib/node_modules', (await manifest(ROOT)).name ?? 'tern-edge')
  await mkdir(target, { recursive: true, mode: 0o755 })
  await cp(join(ROOT, 'package.json'), join(target, 'package.json'))
  await cp(join(ROOT, 'dist'), join(target, 'dist'), { recursive: true })

  // Production dependencies and theirs, each at the place under node_modules where the checkout
  // has it, so Node resolves them in the copy as it does in the checkout.
  const modules = await realpath(join(ROOT, 'node_modules'))
  const copied = new Set<string>()
  const pending: Array<{ name: string; from: string }> = []
  const enqueue = (m: Manifest, from: string, optional: boolean): void => {
    for (const name of Object.keys(m.dependencies ?? {})) pending.push({ name, from })
    if (optional) for (const name of Object.keys(m.optionalDependencies ?? {})) pending.push({ name, from })
  }
  enqueue(await manifest(ROOT), ROOT, false)
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    const found = await lookup(next.name, next.from)
    if (found === undefined) continue // an optional dependency this platform did not install
    const source = await realpath(found)
    if (copied.has(source)) continue
    copied.add(source)
    const inModules = relative(modules, source)
    if (inModules.startsWith('..')) throw new Error(`${next.name} resolves outside node_modules (${source})`)
    // nested node_modules are dependencies of their own, copied when something needs them
    await cp(source, join(target, 'node_modules', inModules), { recursive: true, filter: (path) => !relative(source, path).split(sep).includes('node_modules') })
    enqueue(await manifest(source), source, true)
  }
  return join(target, 'dist/cli/tern.js')
}
