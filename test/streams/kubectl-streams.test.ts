/**
 * kubectl logs, exec and port-forward reach a pod on a tern node through tern cloud's kubelet
 * stream endpoint and the node's stream tunnel (kubeedge-compat.md §5.4: KubeEdge's
 * CloudStream/EdgeStream), end to end with real processes: the API emulator routing pods/log,
 * pods/exec and pods/portforward to the node's daemonEndpoints as the API server does, `tern
 * cloud`, `tern edge` running beside a private containerd in its network namespace (as on a node:
 * the runtime's streaming server is on that namespace's 127.0.0.1), and the real kubectl.
 */
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { request } from 'node:https'
import { readFile } from 'node:fs/promises'
import { stringify } from 'yaml'
import type { CloudWorld } from '../support/cloud.js'
import { containerdAvailable } from '../support/containerd.js'
import { busyboxPod, eventually, SLEEP_FOREVER } from '../support/edged.js'
import type { Child } from '../support/resources.js'
import { startStreamsWorld } from '../support/streams-world.js'

const NODE = 'edge-s1'
const FLOOD_LINES = 100_000
/** streams.maxPerNode of this world's tern cloud */
const MAX_STREAMS = 4


/** the web pod writes a tick every this many ms */
const TICK_MS = 300

/**
 * A `--tail=1` of the web pod read in `ms`: its last line, then the lines written while the read went
 * on to the end of the file (as the kubelet's read does), so one line on a quiet machine and a few
 * more on a loaded one, consecutive, never more than the ticks of `ms`.
 */
function assertTailOfTicks(text: string, ms: number, timestamps = false): void {
  const lines = text.split('\n')
  assert.equal(lines.pop(), '', `ends with a newline: ${JSON.stringify(text.slice(-100))}`)
  const ticks = lines.map((l) => Number(new RegExp(`^${timestamps ? '\\d{4}-\\d\\d-\\d\\dT\\S+Z ' : ''}tick-(\\d+)$`).exec(l)?.[1] ?? NaN))
  assert.ok(ticks.length >= 1 && ticks.length <= 1 + Math.ceil(ms / TICK_MS), `${ticks.length} lines in ${ms} ms: ${JSON.stringify(text.slice(0, 200))}`)
  assert.ok(ticks.every((t, k) => t === ticks[0]! + k), `consecutive ticks: ${JSON.stringify(text.slice(0, 200))}`)
}
describe('kubectl logs, exec and port-forward through the stream tunnel (real processes)', function () {
  this.timeout(300_000)
  const undo: Array<() => Promise<void>> = []
  let world: CloudWorld

  /** A GET of the API server (the emulator), as a client of it other than kubectl. */
  const apiGet = async (path: string): Promise<IncomingMessage> => {
    const ca = await readFile(world.pki.ca)
    const kube = world.kube as NonNullable<CloudWorld['kube']>
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: kube.port, path, ca, headers: { Authorization: 'Bearer admin' } }, resolve)
      req.on('error', reject)
      req.end()
    })
  }
  const text = async (response: IncomingMessage): Promise<string> => {
    let body = ''
    for await (const chunk of response) body += (chunk as Buffer).toString('utf8')
    return body
  }

  before(async function () {
    if (!(await containerdAvailable())) this.skip()
    const streams = await startStreamsWorld(undo, {
      node: NODE,
      streams: { maxPerNode: MAX_STREAMS },
      pods: [
        busyboxPod('web', { app: `i=0; while true; do i=$((i+1)); echo tick-$i; sleep ${TICK_MS / 1000}; done` }),
        busyboxPod('www', { app: 'mkdir -p /www && echo hello-from-the-pod > /www/index.html && httpd -f -p 8080 -h /www' }),
        busyboxPod('boot', { app: `echo boot-$RANDOM$RANDOM; ${SLEEP_FOREVER}` }),
        // 20 MB of 200-character lines, more than the sockets between kubectl and the edge hold
        busyboxPod('flood', { app: `yes $(head -c 200 /dev/zero | tr '\\0' x) | head -n ${FLOOD_LINES}; ${SLEEP_FOREVER}` }),
      ],
    })
    world = streams.world
    // one pod whose image the node does not have (it never runs), and one bound to a node that is not connected
    const absent = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stray' }, spec: { containers: [{ name: 'app', image: 'localhost/absent:1', imagePullPolicy: 'Never' }] } }
    const objects = [stringify({ ...absent, spec: { ...absent.spec, nodeName: NODE } }), stringify({ ...absent, metadata: { name: 'ghost' }, spec: { ...absent.spec, nodeName: 'edge-elsewhere' } })]
    const applied = await world.kubectl.run(['apply', '-f', '-'], objects.join('---\n'))
    assert.equal(applied.code, 0, applied.stderr)
    // the Node of a tern node that is not connected now: its endpoint is tern cloud's, as for every tern node
    const elsewhere = await world.kubectl.run(['apply', '-f', '-'], stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-elsewhere' } }))
    assert.equal(elsewhere.code, 0, elsewhere.stderr)
    const endpoint = { status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: world.cloud.streamsPort } } } }
    const patched = await world.kubectl.run(['patch', 'node', 'edge-elsewhere', '--subresource=status', '--type=merge', '-p', JSON.stringify(endpoint)])
    assert.equal(patched.code, 0, patched.stderr)
    await eventually(async () => {
      const r = await world.kubectl.run(['logs', `web-${NODE}`])
      return r.code === 0 && r.stdout.includes('tick-2')
    }, 60_000, 'the pod logging')
  })
  after(async () => {
    for (const fn of undo.splice(0).reverse()) await fn().catch(() => undefined)
  })

  it('kubectl logs prints the container log; --tail and --timestamps as the kubelet serves them', async () => {
    const all = await world.kubectl.run(['logs', `web-${NODE}`])
    assert.equal(all.code, 0, all.stderr)
    assert.match(all.stdout, /^tick-1\ntick-2\n/)
    const asked = Date.now()
    const tail = await world.kubectl.run(['logs', `web-${NODE}`, '--tail=1', '--timestamps'])
    assert.equal(tail.code, 0, tail.stderr)
    assertTailOfTicks(tail.stdout, Date.now() - asked, true)
  })

  it('kubectl exec -- cat /etc/hostname prints the pod hostname; exit codes come back', async () => {
    const cat = await world.kubectl.run(['exec', `web-${NODE}`, '--', 'cat', '/etc/hostname'])
    assert.equal(cat.code, 0, cat.stderr)
    assert.equal(cat.stdout.trim(), `web-${NODE}`)
    const failed = await world.kubectl.run(['exec', `web-${NODE}`, '--', 'sh', '-c', 'exit 3'])
    assert.equal(failed.code, 3, failed.stderr)
  })

  it('kubectl logs -f follows new lines as the container writes them', async () => {
    const follow = world.kubectl.spawn(['logs', '-f', `web-${NODE}`])
    try {
      const first = Number(await eventually(() => Promise.resolve(/tick-(\d+)\n/.exec(follow.output())?.[1]), 30_000, 'a first followed line'))
      await eventually(() => Promise.resolve(follow.output().includes(`tick-${first + 3}\n`)), 30_000, 'three more lines followed')
    } finally {
      await follow.stop(5_000)
    }
  })

  it('kubectl exec -i passes stdin to the command', async () => {
    const r = await world.kubectl.run(['exec', '-i', `web-${NODE}`, '--', 'sh', '-c', 'read line; echo got-$line; cat'], 'hello\nmore input\n')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'got-hello\nmore input\n')
  })

  it('kubectl port-forward reaches a server in the pod', async () => {
    // kubectl port-forward reads the phase once and refuses a pod that is not Running: the world
    // waited until the node's own status said so (no status is written here)
    const forward = world.kubectl.spawn(['port-forward', `pod/www-${NODE}`, ':8080'])
    try {
      const port = Number(await eventually(() => Promise.resolve(/Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(forward.output())?.[1]), 30_000, 'port-forward listening').catch((err: Error) => {
        throw new Error(`${err.message}; kubectl said: ${forward.output()}`)
      }))
      const body = await eventually(async () => {
        const r = await fetch(`http://127.0.0.1:${port}/index.html`).catch(() => undefined)
        return r?.status === 200 ? await r.text() : undefined
      }, 30_000, 'an answer through the forwarded port')
      assert.equal(body, 'hello-from-the-pod\n')
    } finally {
      await forward.stop(5_000)
    }
  })

  it('a request for a pod the node does not run, or of another node, is refused; the endpoint wants the API server certificate', async () => {
    const stray = await world.kubectl.run(['exec', 'stray', '--', 'true'])
    assert.notEqual(stray.code, 0)
    assert.match(stray.stderr, /not running on this node/)
    const ghost = await world.kubectl.run(['logs', 'ghost'])
    assert.notEqual(ghost.code, 0)
    assert.match(ghost.stderr, /node edge-elsewhere .*no stream tunnel/)
    // the kubelet endpoint itself: no client certificate, or one of another CA → 401
    const get = async (client: { cert: string; key: string } | undefined): Promise<{ status: number; body: string }> => {
      const [ca, cert, key] = await Promise.all([readFile(world.pki.ca), client && readFile(client.cert), client && readFile(client.key)])
      return new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: world.cloud.streamsPort, path: `/containerLogs/default/web-${NODE}/app`, ca, ...(cert === undefined || key === undefined ? {} : { cert, key }) }, (res) => {
          let body = ''
          res.on('data', (d: Buffer) => (body += d.toString()))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        })
        req.on('error', reject)
        req.end()
      })
    }
    const anonymous = await get(undefined)
    assert.equal(anonymous.status, 401)
    assert.match(anonymous.body, /STREAM_UNAUTHORIZED/)
    assert.equal((await get(world.pki.strangerClient)).status, 401)
    assert.equal((await get(world.pki.client)).status, 200)
  })

  it('a stalled kubectl holds only its own stream: exec and the node status go on; resumed, it gets every line', async () => {
    const name = `flood-${NODE}`
    await eventually(async () => {
      const r = await world.kubectl.run(['exec', name, '--', 'sh', '-c', `test -n "$(pidof yes)" || echo done`])
      return r.code === 0 && r.stdout.includes('done')
    }, 120_000, 'the flood written')
    // the stalled reader: a client of the API server that reads the first bytes of a 20 MB log and then nothing
    const response = await apiGet(`/api/v1/namespaces/default/pods/${name}/log`)
    assert.equal(response.statusCode, 200)
    const chunks: Buffer[] = []
    const collect = (d: Buffer): number => chunks.push(d)
    response.on('data', collect)
    await eventually(() => Promise.resolve(chunks.length > 0), 30_000, 'the first bytes of the flood')
    response.pause()
    try {
      const lease = async (): Promise<string> => (await world.kubectl.run(['get', 'lease', '-n', 'kube-node-lease', NODE, '-o', 'jsonpath={.spec.renewTime}'])).stdout
      const before = await lease()
      const started = Date.now()
      const cat = await world.kubectl.run(['exec', `web-${NODE}`, '--', 'cat', '/etc/hostname'])
      assert.equal(cat.code, 0, cat.stderr)
      assert.equal(cat.stdout.trim(), `web-${NODE}`)
      const asked = Date.now()
      const logs = await world.kubectl.run(['logs', `web-${NODE}`, '--tail=1'])
      assertTailOfTicks(logs.stdout, Date.now() - asked)
      assert.ok(Date.now() - started < 20_000, 'other streams are served while one is stalled')
      // the Lease is renewed only while the node is heard from on its session
      await eventually(async () => (await lease()) !== before, 30_000, "the node's Lease renewed while the stream is stalled")
      const held = chunks.reduce((n, c) => n + c.length, 0)
      assert.ok(held < 20_000_000, `the stalled reader had ${held} bytes: the stream was not held back`)
      response.resume()
      await new Promise((resolve) => response.once('end', resolve))
      const lines = Buffer.concat(chunks).toString('utf8').split('\n').filter((l) => l !== '')
      assert.equal(lines.length, FLOOD_LINES)
      assert.ok(lines.every((l) => l === 'x'.repeat(200)), 'every line intact')
    } finally {
      response.destroy()
    }
  })

  it('kubectl logs --previous shows the container before its restart', async () => {
    const name = `boot-${NODE}`
    const first = await eventually(async () => /boot-\d+/.exec((await world.kubectl.run(['logs', name])).stdout)?.[0], 30_000, 'the first boot line')
    const killed = await world.kubectl.run(['exec', name, '--', 'kill', '1'])
    assert.equal(killed.code, 0, killed.stderr)
    const second = await eventually(async () => {
      const now = /boot-\d+/.exec((await world.kubectl.run(['logs', name])).stdout)?.[0]
      return now !== undefined && now !== first ? now : undefined
    }, 90_000, 'the restarted container logging')
    const previous = await world.kubectl.run(['logs', name, '--previous'])
    assert.equal(previous.code, 0, previous.stderr)
    assert.equal(previous.stdout, `${first}\n`)
    assert.notEqual(second, first)
  })

  it('kubectl logs --previous of a container that has not restarted, and logs of one waiting to start: the kubelet\'s 400 and words', async () => {
    // pkg/kubelet/kubelet_pods.go validateContainerLogStatus, answered 400 by the kubelet server
    const previous = await world.kubectl.run(['logs', `web-${NODE}`, '--previous'])
    assert.equal(previous.code, 1)
    assert.equal(previous.stderr, `Error from server (BadRequest): previous terminated container "app" in pod "web-${NODE}" not found\n`)
    // the image is not on the node and may not be pulled: edged reports ErrImageNeverPull once it tried
    const waiting = await eventually(async () => {
      const r = await world.kubectl.run(['logs', 'stray'])
      return r.stderr.includes('ContainerCreating') ? undefined : r
    }, 30_000, 'stray waiting for its image')
    assert.equal(waiting.code, 1)
    assert.equal(waiting.stderr, 'Error from server (BadRequest): container "app" in pod "stray" is waiting to start: ErrImageNeverPull\n')
  })

  it('the endpoint routes a request by tern cloud\'s pod informer: no API read of the pod per request', async () => {
    const kube = world.kube as NonNullable<CloudWorld['kube']>
    const podPath = `/api/v1/namespaces/default/pods/web-${NODE}`
    const reads = (): number => kube.requests.filter((r) => r.method === 'GET' && r.url.split('?')[0] === podPath).length
    const before = reads()
    for (let i = 0; i < 5; i++) {
      const asked = Date.now()
      const response = await apiGet(`${podPath}/log?tailLines=1`)
      assert.equal(response.statusCode, 200)
      assertTailOfTicks(await text(response), Date.now() - asked)
    }
    // the emulator finds the pod's node itself (no request); any GET of the pod came from tern cloud
    assert.equal(reads() - before, 0, 'tern cloud read the pod from the API server for a stream request')
  })

  it(`streams.maxPerNode: with ${MAX_STREAMS} streams open to the node the next kubectl gets STREAM_LIMIT_REACHED; one ending makes room`, async () => {
    const followers: Child[] = []
    try {
      for (let i = 0; i < MAX_STREAMS; i++) {
        const follow = world.kubectl.spawn(['logs', '-f', `web-${NODE}`])
        followers.push(follow)
        await eventually(() => Promise.resolve(/tick-\d+\n/.test(follow.output())), 30_000, `follower ${i + 1} streaming`)
      }
      const exec = await world.kubectl.run(['exec', `web-${NODE}`, '--', 'true'])
      assert.notEqual(exec.code, 0)
      assert.match(exec.stderr, new RegExp(`node ${NODE} has ${MAX_STREAMS} streams open.*streams\\.maxPerNode`))
      const logs = await world.kubectl.run(['logs', `web-${NODE}`, '--tail=1'])
      assert.notEqual(logs.code, 0)
      assert.match(logs.stderr, /TooManyRequests|streams open/)
      // the followers were not disturbed
      const seen = followers.map((f) => f.output().length)
      await eventually(() => Promise.resolve(followers.every((f, i) => f.output().length > (seen[i] ?? 0))), 30_000, 'every follower still streaming')
      await followers.shift()?.stop(5_000)
      await eventually(async () => {
        const r = await world.kubectl.run(['exec', `web-${NODE}`, '--', 'cat', '/etc/hostname'])
        return r.code === 0 && r.stdout.trim() === `web-${NODE}`
      }, 30_000, 'an exec served once a follower ended')
    } finally {
      for (const follow of followers) await follow.stop(5_000)
    }
  })
})
