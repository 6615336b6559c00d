import { strict as assert } from 'node:assert'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { hashPassword, parseHash, verifyPassword } from '../../broker/passwords.js'
import { scratchDir } from '../support/resources.js'

describe('broker/passwords (Mosquitto password-file formats)', () => {
  it('verifies its own $7$ hashes and refuses other passwords', async () => {
    const parsed = parseHash(hashPassword('s3cret'))
    assert.ok(parsed)
    assert.equal(await verifyPassword(Buffer.from('s3cret'), parsed), true)
    assert.equal(await verifyPassword(Buffer.from('s3cret '), parsed), false)
    assert.equal(await verifyPassword(Buffer.alloc(0), parsed), false)
  })

  it('verifies hashes made by the real mosquitto_passwd', async () => {
    const dir = await scratchDir()
    after(() => dir.remove())
    const file = join(dir.path, 'passwd')
    execFileSync('mosquitto_passwd', ['-b', '-c', file, 'meter-1', 'pa ss:wörd'])
    const line = readFileSync(file, 'utf8').trim()
    const hash = line.slice(line.indexOf(':') + 1)
    assert.match(hash, /^\$7\$/)
    const parsed = parseHash(hash)
    assert.ok(parsed)
    assert.equal(await verifyPassword(Buffer.from('pa ss:wörd'), parsed), true)
    assert.equal(await verifyPassword(Buffer.from('pa ss:word'), parsed), false)
  })

  it('rejects malformed hashes instead of matching them', () => {
    for (const bad of ['', '$7$', '$7$0$abc$def', '$5$x$y', 'plain']) assert.equal(parseHash(bad), undefined, bad)
  })
})
