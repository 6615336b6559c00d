/**
 * The kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go) for configMap and secret volumes:
 * the files of one payload go into a fresh hidden directory `..<timestamp>.<random>`, the symlink
 * `..data` is switched to it with one rename (atomic), and each top-level path is a symlink
 * `<name> → ..data/<name>`. A container reading the volume sees the old payload or the new one,
 * never half of each; the old directory is removed after the switch. Nothing is written when
 * the payload is what `..data` already holds, so calling this on every sync costs reads only.
 */
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

const DATA = '..data'

export interface PayloadFile {
  /** bytes, written as they are (a configMap's binaryData need not be UTF-8) */
  content: Uint8Array
  mode: number
}

/** Writes `payload` (relative path → file) into `dir`; true when it changed what the volume shows. */
export async function writeAtomically(dir: string, payload: ReadonlyMap<string, PayloadFile>): Promise<boolean> {
  const current = await readlink(join(dir, DATA)).catch(() => undefined)
  if (current !== undefined && (await holds(join(dir, current), payload))) return false
  const stamp = new Date().toISOString().replace(/[-:]/g, '_').replace('T', '_').replace(/\..*$/, '')
  const fresh = await mkdtemp(join(dir, `..${stamp}.`))
  for (const [path, file] of payload) {
    const target = join(fresh, path)
    await mkdir(dirname(target), { recursive: true })
    await writeFile(target, file.content, { mode: file.mode })
    await chmod(target, file.mode)
  }
  await chmod(fresh, 0o755)
  const temporary = join(dir, `${DATA}_tmp`)
  await rm(temporary, { force: true })
  await symlink(basename(fresh), temporary)
  await rename(temporary, join(dir, DATA))
  const top = new Set([...payload.keys()].map((p) => p.split('/')[0] as string))
  for (const name of top) {
    const link = join(dir, name)
    if ((await lstat(link).catch(() => undefined)) === undefined) await symlink(join(DATA, name), link)
  }
  for (const name of await readdir(dir)) {
    if (name.startsWith('..') || top.has(name)) continue
    // a path the payload no longer has: only our own links are removed
    if ((await readlink(join(dir, name)).catch(() => '')).startsWith(`${DATA}/`)) await unlink(join(dir, name))
  }
  if (current !== undefined && current !== basename(fresh)) await rm(join(dir, current), { recursive: true, force: true })
  return true
}

/** Whether the directory holds exactly `payload` (paths, contents, modes). */
async function holds(dir: string, payload: ReadonlyMap<string, PayloadFile>): Promise<boolean> {
  const files = await listFiles(dir).catch(() => undefined)
  if (files === undefined || files.length !== payload.size) return false
  for (const path of files) {
    const want = payload.get(path)
    if (want === undefined) return false
    const full = join(dir, path)
    if (((await stat(full)).mode & 0o777) !== want.mode || !(await readFile(full)).equals(want.content)) return false
  }
  return true
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`
    if (entry.isDirectory()) out.push(...(await listFiles(join(dir, entry.name), path)))
    else out.push(path)
  }
  return out
}
