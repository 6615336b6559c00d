/**
 * ImageManager against a real containerd (no registry is reachable, so every pull fails as a pull
 * from an unreachable registry does): pull policies, the kubelet's reasons as codes, and the
 * image-pull back-off (10 s doubling, per pod and image) in virtual time.
 */
import assert from 'node:assert/strict'
import { Backoff } from '../../edged/backoff.js'
import { connectGrpcRuntime } from '../../edged/cri/grpc-runtime.js'
import type { ContainerRuntime } from '../../edged/cri/runtime.js'
import { ImageManager } from '../../edged/images.js'
import { withDefaultTag } from '../../edged/pod/image-name.js'
import { validatePod } from '../../edged/pod/validate.js'
import { TernError } from '../../schemas/tern-error.js'
import type { Pod } from '../../schemas/pod.js'
import { BUSYBOX_IMAGE, BUSYBOX_NOBODY_IMAGE, startContainerd, type Containerd } from '../support/containerd.js'
import { ManualClock } from '../support/manual-clock.js'

const code = (c: string, message?: RegExp) => (e: unknown) => e instanceof TernError && e.code === c && (message === undefined || message.test(e.message))

describe('edged image references', () => {
  it('the default tag is added only when there is neither tag nor digest', () => {
    const table: Array<[string, string]> = [
      ['busybox', 'busybox:latest'],
      ['localhost/busybox:1', 'localhost/busybox:1'],
      ['registry.local:5000/team/app', 'registry.local:5000/team/app:latest'],
      ['registry.local:5000/team/app:v1.2', 'registry.local:5000/team/app:v1.2'],
      [`app@sha256:${'a'.repeat(64)}`, `app@sha256:${'a'.repeat(64)}`],
      ['[::1]:5000/app', '[::1]:5000/app:latest'],
    ]
    for (const [image, out] of table) assert.equal(withDefaultTag(image), out)
  })

  it('refuses what distribution/reference refuses', () => {
    for (const image of ['Busybox', 'busybox:1:2', 'busybox:', 'bad image', '-app', 'app//x', 'app@sha256:short', 'a'.repeat(64), '']) {
      assert.throws(() => withDefaultTag(image), Error, image)
    }
  })
})

describe('edged ImageManager (real containerd)', function () {
  this.timeout(180_000)
  let containerd: Containerd
  let rt: ContainerRuntime
  let pulls: string[]

  before(async () => {
    containerd = await startContainerd()
    const real = await connectGrpcRuntime({ endpoint: containerd.endpoint, callTimeoutMs: 90_000 })
    pulls = []
    // The real runtime, with its pulls counted.
    rt = { ...real, pullImage: (image, auth) => (pulls.push(image), real.pullImage(image, auth)) }
  })
  after(async () => {
    rt?.close()
    await containerd?.stop()
  })
  beforeEach(() => (pulls.length = 0))

  const pod = (image: string, imagePullPolicy?: string, uid = 'uid-1'): Pod =>
    validatePod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', uid }, spec: { containers: [{ name: 'a', image, ...(imagePullPolicy === undefined ? {} : { imagePullPolicy }) }] } }, 'test')
  const manager = (clock = new ManualClock()): ImageManager => new ImageManager({ runtime: rt, clock, backoff: new Backoff({ clock }) })
  const ensure = (m: ImageManager, p: Pod): Promise<string> => m.ensure(p, p.spec.containers[0]!)

  it('IfNotPresent and Never use an image the node has without pulling; the reference is the runtime’s image id', async () => {
    const m = manager()
    const id = (await rt.imageStatus(BUSYBOX_IMAGE))?.id
    assert.match(id ?? '', /^sha256:[0-9a-f]{64}$/)
    assert.equal(await ensure(m, pod(BUSYBOX_IMAGE)), id)
    assert.equal(await ensure(m, pod(BUSYBOX_IMAGE, 'Never')), id)
    assert.deepEqual(pulls, [])
    // busybox's image config names no user (it runs as root); the other one's names 65534.
    assert.deepEqual(await m.user(id ?? ''), {})
    assert.deepEqual(await m.user(await ensure(m, pod(BUSYBOX_NOBODY_IMAGE))), { uid: 65534 })
  })

  it('Never with an absent image is ErrImageNeverPull; an invalid reference is InvalidImageName; neither pulls', async () => {
    const m = manager()
    await assert.rejects(ensure(m, pod('localhost/absent:1', 'Never')), code('EDGED_IMAGE_NEVER_PULL', /"localhost\/absent:1" is not present with pull policy of Never/))
    await assert.rejects(ensure(m, pod('localhost/Busybox:1')), code('EDGED_IMAGE_INVALID_NAME', /Failed to apply default image tag "localhost\/Busybox:1"/))
    assert.deepEqual(pulls, [])
  })

  it('Always pulls even an image the node has (here the pull fails: no registry); an untagged image is pulled as :latest', async () => {
    const m = manager()
    await assert.rejects(ensure(m, pod(BUSYBOX_IMAGE, 'Always')), code('EDGED_IMAGE_PULL_FAILED', /Failed to pull image "localhost\/busybox:1"/))
    await assert.rejects(ensure(m, pod('localhost/busybox', undefined, 'uid-2')), code('EDGED_IMAGE_PULL_FAILED'))
    assert.deepEqual(pulls, [BUSYBOX_IMAGE, 'localhost/busybox:latest'])
  })

  it('pods waiting for the same image share one pull', async () => {
    const m = manager()
    const results = await Promise.allSettled([ensure(m, pod(BUSYBOX_IMAGE, 'Always', 'u1')), ensure(m, pod(BUSYBOX_IMAGE, 'Always', 'u2'))])
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected'])
    assert.deepEqual(pulls, [BUSYBOX_IMAGE])
  })

  it('a failed pull backs off per pod and image: 10 s, then 20 s, ImagePullBackOff meanwhile; another pod pulls at once', async () => {
    const clock = new ManualClock()
    const m = manager(clock)
    const absent = pod('127.0.0.1:1/absent:1')
    await assert.rejects(ensure(m, absent), code('EDGED_IMAGE_PULL_FAILED'))
    await assert.rejects(ensure(m, absent), code('EDGED_IMAGE_PULL_BACKOFF', /Back-off pulling image "127.0.0.1:1\/absent:1"/))
    await clock.advance(9_000)
    await assert.rejects(ensure(m, absent), code('EDGED_IMAGE_PULL_BACKOFF'))
    assert.equal(pulls.length, 1)
    // Another pod's pull of the same image is its own.
    await assert.rejects(ensure(m, pod('127.0.0.1:1/absent:1', undefined, 'uid-other')), code('EDGED_IMAGE_PULL_FAILED'))
    assert.equal(pulls.length, 2)
    await clock.advance(1_001)
    await assert.rejects(ensure(m, absent), code('EDGED_IMAGE_PULL_FAILED'))
    assert.equal(pulls.length, 3)
    await clock.advance(19_000)
    await assert.rejects(ensure(m, absent), code('EDGED_IMAGE_PULL_BACKOFF'))
    await clock.advance(1_001)
    await assert.rejects(ensure(m, absent), code('EDGED_IMAGE_PULL_FAILED'))
    assert.equal(pulls.length, 4)
  })
})
