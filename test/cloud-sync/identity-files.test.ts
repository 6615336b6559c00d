/**
 * The node's key and certificate files replaced as one switch (node-files.ts): every state a crash
 * can leave between the first write and the last rename, and what the next start makes of it.
 */
import { strict as assert } from 'node:assert'
import { X509Certificate } from 'node:crypto'
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pino from 'pino'
import { NEXT_SUFFIX, pairMatches, recoverNodeFiles, writeNodeFiles, type NodeFilePaths } from '../../cloud-sync/identity/node-files.js'
import { issueCertificate, newKey } from '../../cloud-sync/identity/x509.js'
import { scratchDir } from '../support/resources.js'

/** A key and a self-signed certificate for it: enough to tell pairs apart. */
function pair(name: string): { key: string; cert: string } {
  const key = newKey()
  const cert = issueCertificate({ subject: { cn: name }, publicKey: key.publicKey, signingKey: key.privateKey, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3600_000), kind: 'client' })
  return { key: key.key, cert: cert.toString() }
}

describe('node identity: key and certificate files switched together', function () {
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  const logs: Array<Record<string, unknown>> = []
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) })

  /** A directory holding the old pair, as a joined node has it. */
  async function joined(): Promise<{ dir: string; paths: NodeFilePaths; old: { key: string; cert: string } }> {
    const scratch = await scratchDir('tern-node-files-')
    undo.push(() => scratch.remove())
    const paths = { key: join(scratch.path, 'node.key'), cert: join(scratch.path, 'node.crt') }
    const old = pair('old')
    await writeNodeFiles(paths, old)
    return { dir: scratch.path, paths, old }
  }

  async function current(paths: NodeFilePaths): Promise<{ key: string; cert: string }> {
    return { key: await readFile(paths.key, 'utf8'), cert: await readFile(paths.cert, 'utf8') }
  }

  const next = (path: string): string => `${path}${NEXT_SUFFIX}`

  it('writes both files 0600 and leaves nothing else behind', async () => {
    const { dir, paths, old } = await joined()
    const renewed = pair('renewed')
    await writeNodeFiles(paths, renewed)
    assert.deepEqual(await current(paths), renewed)
    assert.ok(!pairMatches(old.key, renewed.cert))
    assert.deepEqual((await readdir(dir)).sort(), ['node.crt', 'node.key'])
    for (const path of [paths.key, paths.cert]) assert.equal((await stat(path)).mode & 0o777, 0o600, path)
    assert.equal(await recoverNodeFiles(paths, log), 'clean')
  })

  it('both new files written, none renamed: the switch is finished', async () => {
    const { paths } = await joined()
    const renewed = pair('renewed')
    await writeFile(next(paths.key), renewed.key, { mode: 0o600 })
    await writeFile(next(paths.cert), renewed.cert, { mode: 0o600 })
    assert.equal(await recoverNodeFiles(paths, log), 'finished')
    assert.deepEqual(await current(paths), renewed)
  })

  it('the key renamed, the certificate not yet (the pair on disk does not match): the switch is finished', async () => {
    const { dir, paths, old } = await joined()
    const renewed = pair('renewed')
    await writeFile(next(paths.key), renewed.key, { mode: 0o600 })
    await writeFile(next(paths.cert), renewed.cert, { mode: 0o600 })
    await rename(next(paths.key), paths.key)
    assert.ok(!pairMatches(await readFile(paths.key, 'utf8'), old.cert), 'a key that does not match the certificate')
    assert.equal(await recoverNodeFiles(paths, log), 'finished')
    assert.deepEqual(await current(paths), renewed)
    assert.deepEqual((await readdir(dir)).sort(), ['node.crt', 'node.key'])
    assert.ok(logs.some((l) => l.code === 'NODE_CERT_SWITCH_RECOVERED' && l.recovery === 'finished'))
  })

  it('a crash while writing the new files (only the key, or a cut certificate): they are removed, the old pair stays', async () => {
    const { dir, paths, old } = await joined()
    const renewed = pair('renewed')
    await writeFile(next(paths.key), renewed.key, { mode: 0o600 })
    assert.equal(await recoverNodeFiles(paths, log), 'discarded')
    assert.deepEqual(await current(paths), old)
    await writeFile(next(paths.key), renewed.key, { mode: 0o600 })
    await writeFile(next(paths.cert), renewed.cert.slice(0, 200), { mode: 0o600 })
    assert.equal(await recoverNodeFiles(paths, log), 'discarded')
    assert.deepEqual(await current(paths), old)
    assert.deepEqual((await readdir(dir)).sort(), ['node.crt', 'node.key'])
    assert.ok(new X509Certificate(old.cert))
  })
})
