/**
 * Registry credentials from a pod's imagePullSecrets, as the kubelet's keyring finds them, and the
 * ImageManager handing them to the runtime's PullImage (a recording runtime: no registry is
 * reachable here, and containerd does not report the credentials a pull used).
 */
import assert from 'node:assert/strict'
import { Backoff } from '../../edged/backoff.js'
import { ImageManager, type PullAuth } from '../../edged/images.js'
import { validatePod } from '../../edged/pod/validate.js'
import { imageLocation, pullAuthFor } from '../../edged/pull-secrets.js'
import { ManualClock } from '../support/manual-clock.js'

const dockerconfigjson = (auths: Record<string, unknown>): Record<string, string> => ({ '.dockerconfigjson': JSON.stringify({ auths }) })
const b64 = (s: string): string => Buffer.from(s).toString('base64')

describe('edged imagePullSecrets', () => {
  it('splits an image into registry, port and repository path as distribution/reference does', () => {
    assert.deepEqual(imageLocation('busybox:1.36'), { host: 'docker.io', port: '', path: 'library/busybox' })
    assert.deepEqual(imageLocation('team/app'), { host: 'docker.io', port: '', path: 'team/app' })
    assert.deepEqual(imageLocation('index.docker.io/team/app:v1'), { host: 'docker.io', port: '', path: 'team/app' })
    assert.deepEqual(imageLocation('registry.local:5000/team/app:v1'), { host: 'registry.local', port: '5000', path: 'team/app' })
    assert.deepEqual(imageLocation(`localhost/app@sha256:${'a'.repeat(64)}`), { host: 'localhost', port: '', path: 'app' })
  })

  it('finds the credentials whose key matches the registry, port and path, the most specific first', () => {
    const secret = dockerconfigjson({
      'registry.local:5000': { username: 'any', password: 'p0' },
      'registry.local:5000/team': { username: 'team', password: 'p1' },
      'https://index.docker.io/v1/': { auth: b64('hub:p2') },
      '*.corp.example': { username: 'corp', password: 'p3' },
    })
    assert.deepEqual(pullAuthFor('registry.local:5000/team/app:v1', [secret]), { username: 'team', password: 'p1', serverAddress: 'registry.local:5000/team' })
    assert.deepEqual(pullAuthFor('registry.local:5000/other/app', [secret]), { username: 'any', password: 'p0', serverAddress: 'registry.local:5000' })
    assert.deepEqual(pullAuthFor('busybox', [secret]), { username: 'hub', password: 'p2', serverAddress: 'https://index.docker.io/v1/' })
    assert.deepEqual(pullAuthFor('eu.corp.example/app', [secret]), { username: 'corp', password: 'p3', serverAddress: '*.corp.example' })
    // another port, another host depth, a path that only shares a prefix of characters: no match
    assert.equal(pullAuthFor('registry.local/team/app', [secret]), undefined)
    assert.equal(pullAuthFor('a.eu.corp.example/app', [secret]), undefined)
    assert.equal(pullAuthFor('registry.local:5000/teamwork/app', [secret])?.username, 'any')
  })

  it('takes the first secret that has a match, reads legacy .dockercfg, and skips missing or broken secrets', () => {
    const legacy = { '.dockercfg': JSON.stringify({ 'quay.io': { username: 'q', password: 'legacy' } }) }
    const other = dockerconfigjson({ 'quay.io': { username: 'q', password: 'second' } })
    assert.equal(pullAuthFor('quay.io/org/app', [undefined, { '.dockerconfigjson': '{not json' }, { token: 'x' }, legacy, other])?.password, 'legacy')
    assert.equal(pullAuthFor('quay.io/org/app', []), undefined)
  })

  it('ImageManager pulls with the credentials of the pod’s imagePullSecrets, and without any when none match', async () => {
    const seen: Array<PullAuth | undefined> = []
    const secrets: Record<string, Record<string, string>> = { 'shop/regcred': dockerconfigjson({ 'registry.local:5000': { username: 'u', password: 'pw' } }) }
    const clock = new ManualClock()
    const images = new ImageManager({
      runtime: { imageStatus: () => Promise.resolve(undefined), pullImage: (_image, auth) => (seen.push(auth), Promise.resolve('sha256:ref')) },
      backoff: new Backoff({ clock }),
      clock,
      secret: (ns, name) => Promise.resolve(secrets[`${ns}/${name}`]),
    })
    const pod = (image: string) =>
      validatePod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop', uid: image }, spec: { imagePullSecrets: [{ name: 'absent' }, { name: 'regcred' }], containers: [{ name: 'a', image }] } }, 'test')
    for (const image of ['registry.local:5000/app:v1', 'elsewhere.example/app:v1']) {
      const p = pod(image)
      assert.equal(await images.ensure(p, p.spec.containers[0]!), 'sha256:ref')
    }
    assert.deepEqual(seen, [{ username: 'u', password: 'pw', serverAddress: 'registry.local:5000' }, undefined])
  })
})
