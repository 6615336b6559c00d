/** `tern cloud`, and `tern edge` with a `cloud:` section, refusing bad set-ups with stable codes before doing anything. */
import { strict as assert } from 'node:assert'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { scratchDir } from '../support/resources.js'
import { runTern } from '../support/tern.js'

describe('cli: tern cloud and the edge cloud link', function () {
  this.timeout(60_000) // several real tern processes; start-up alone takes seconds on a loaded machine
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  beforeEach(async () => {
    scratch = await scratchDir()
  })
  afterEach(() => scratch.remove())

  async function run(command: 'cloud' | 'edge', yaml: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
    const path = join(scratch.path, `${command}.yaml`)
    await writeFile(path, yaml)
    // the metrics listener on a port from the OS: a run that gets that far must not need 9464 free
    const args = [command, '--config', path, '--http-listen', '127.0.0.1:0', ...(command === 'edge' ? ['--data-dir', join(scratch.path, 'data')] : [])]
    return runTern(args, undefined, { HOME: scratch.path, KUBECONFIG: '', TERN_CLOUD_SECRET: '', ...env })
  }

  it('tern cloud: an invalid config is refused with every problem and its path', async () => {
    const { code, output } = await run('cloud', 'hub: { port: 70000, colour: blue }\nstatus: { qps: 0 }\n')
    assert.equal(code, 1)
    assert.match(output, /CONFIG_INVALID: .*cloud\.yaml is not a valid cloud configuration/)
    assert.match(output, /\/hub\/port: must be <= 65535/)
    assert.match(output, /\/hub\/colour: unknown key/)
    assert.match(output, /\/status\/qps: must be > 0/)
  })

  it('tern cloud: shared-secret mode without a secret → CLOUD_CONFIG_INVALID; no cluster → CLOUD_KUBE_UNAVAILABLE; an unreadable TLS file → CLOUD_CONFIG_INVALID', async () => {
    const noSecret = await run('cloud', 'hub: { port: 0 }\nauth: { mode: shared-secret }\n')
    assert.equal(noSecret.code, 1)
    assert.match(noSecret.output, /CLOUD_CONFIG_INVALID: no shared secret/)
    const noCluster = await run('cloud', 'hub: { port: 0, host: 127.0.0.1 }\n', { TERN_CLOUD_SECRET: 'abc' })
    assert.equal(noCluster.code, 1)
    assert.match(noCluster.output, /CLOUD_KUBE_UNAVAILABLE/)
    const noTls = await run('cloud', `hub: { port: 0, tls: { cert: ${join(scratch.path, 'none.crt')}, key: ${join(scratch.path, 'none.key')} } }\nauth: { mode: shared-secret }\n`, { TERN_CLOUD_SECRET: 'abc' })
    assert.equal(noTls.code, 1)
    assert.match(noTls.output, /CLOUD_CONFIG_INVALID: cannot read the CloudHub TLS file/)
  })

  it('tern edge: devices from the cloud and from local manifests at once are refused; so is a cloud link without a secret', async () => {
    const both = await run('edge', `mqtt: { listeners: [{ port: 0 }] }\ntwin: { manifestsDir: ${scratch.path} }\ncloud: { url: "wss://127.0.0.1:10000" }\n`, { TERN_CLOUD_SECRET: 'abc' })
    assert.equal(both.code, 1)
    assert.match(both.output, /CONFIG_INVALID: twin.manifestsDir and cloud are both set/)
    const noSecret = await run('edge', 'mqtt: { listeners: [{ port: 0 }] }\ncloud: { url: "wss://127.0.0.1:10000" }\n')
    assert.equal(noSecret.code, 1)
    assert.match(noSecret.output, /CLOUD_CONFIG_INVALID: no shared secret/)
    const badUrl = await run('edge', 'cloud: { url: "http://127.0.0.1:10000/x" }\n')
    assert.equal(badUrl.code, 1)
    assert.match(badUrl.output, /\/cloud\/url: must match pattern/)
  })
})
