/**
 * The node's key and certificate files (config `cloud.key`, `cloud.cert`), replaced together at
 * every renewal. Two renames cannot happen at once, so the pair goes through a switch that a crash
 * at any point leaves recoverable: both new files are written whole under `<path>.next` (0600) and
 * flushed to disk, then renamed over the old ones, key first. At start, {@link recoverNodeFiles}
 * looks at what is left: a `.next` certificate whose key is at hand (`.next` or already renamed)
 * finishes the switch; anything else left over is removed and the old pair stays.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { open, readFile, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Logger } from 'pino'

export interface NodeFilePaths {
  key: string
  cert: string
}

export const NEXT_SUFFIX = '.next'
const next = (path: string): string => `${path}${NEXT_SUFFIX}`

/** Writes `text` to `path` (0600) and flushes it to disk. */
async function writeSynced(path: string, text: string): Promise<void> {
  const file = await open(path, 'w', 0o600)
  try {
    await file.writeFile(text)
    await file.sync()
  } finally {
    await file.close()
  }
}

/** Writes `text` to `path` (0600) by a rename, so the file is always whole. */
export async function writePrivate(path: string, text: string): Promise<void> {
  await writeSynced(next(path), text)
  await rename(next(path), path)
  await syncDir(dirname(path))
}

/** Flushes a directory's entries (the renames in it) to disk. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Replaces the node's key and certificate as one switch (see the file comment). */
export async function writeNodeFiles(paths: NodeFilePaths, pem: { key: string; cert: string }): Promise<void> {
  await writeSynced(next(paths.key), pem.key)
  await writeSynced(next(paths.cert), pem.cert)
  await syncDirs(paths)
  await rename(next(paths.key), paths.key)
  await rename(next(paths.cert), paths.cert)
  await syncDirs(paths)
}

async function syncDirs(paths: NodeFilePaths): Promise<void> {
  for (const dir of new Set([dirname(paths.key), dirname(paths.cert)])) await syncDir(dir)
}

async function readIfThere(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Whether `certPem` is a certificate for the private key `keyPem` (false when either does not parse). */
export function pairMatches(keyPem: string | undefined, certPem: string | undefined): boolean {
  if (keyPem === undefined || certPem === undefined) return false
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))
  } catch {
    return false
  }
}

export type Recovery = 'clean' | 'finished' | 'discarded'

/**
 * Finishes or undoes a switch a crash interrupted; call before the files are read. `finished`:
 * the renewed pair is in place; `discarded`: half-written new files were removed, the old pair
 * stays; `clean`: nothing was left over.
 */
export async function recoverNodeFiles(paths: NodeFilePaths, log: Logger): Promise<Recovery> {
  const nextKey = await readIfThere(next(paths.key))
  const nextCert = await readIfThere(next(paths.cert))
  if (nextKey === undefined && nextCert === undefined) return 'clean'
  // The certificate is renamed last: while its `.next` is there, its key is the `.next` one or, once renamed, the current one.
  const key = nextKey ?? (await readIfThere(paths.key))
  if (nextCert !== undefined && pairMatches(key, nextCert)) {
    if (nextKey !== undefined) await rename(next(paths.key), paths.key)
    await rename(next(paths.cert), paths.cert)
    await syncDirs(paths)
    log.warn({ code: 'NODE_CERT_SWITCH_RECOVERED', recovery: 'finished', cert: paths.cert }, 'a stop interrupted the switch to a renewed certificate; the switch is finished now')
    return 'finished'
  }
  await rm(next(paths.key), { force: true })
  await rm(next(paths.cert), { force: true })
  await syncDirs(paths)
  log.warn({ code: 'NODE_CERT_SWITCH_RECOVERED', recovery: 'discarded', cert: paths.cert }, 'a stop interrupted writing a renewed certificate; its partial files were removed and the node keeps its current certificate')
  return 'discarded'
}
