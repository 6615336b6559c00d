/**
 * A private containerd 1.6 with its CRI plugin for edged's tests (test-env-notes §6): its own
 * root, state, socket, CNI config and IPAM data under a scratch directory, run in a private mount
 * namespace with a tmpfs on /run (containerd 1.6 still puts shim sockets and runc's root under
 * /run/containerd, and the CNI cache under /var/lib) and a private network namespace (the CNI bridge lives and dies there), so
 * nothing is left on the host. No registry is reachable: the busybox and sandbox ("pause") images
 * are OCI archives built here from Debian's busybox-static and imported with ctr.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { access, mkdir, readFile, symlink, writeFile, copyFile } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Dial } from '../../edged/pod-network.js'
import { killLeftovers } from './containerd-leftovers.js'
import { scratchDir, startChild, type Child } from './resources.js'

const execFileAsync = promisify(execFile)

export const CONTAINERD_BIN = '/usr/bin/containerd'
export const CTR_BIN = '/usr/bin/ctr'
export const BUSYBOX_BIN = '/usr/bin/busybox'
export const CNI_BIN_DIR = '/usr/lib/cni'
/** The CRI namespace: images imported elsewhere are invisible to the CRI plugin. */
const K8S_NAMESPACE = 'k8s.io'

export const BUSYBOX_IMAGE = 'localhost/busybox:1'
export const PAUSE_IMAGE = 'localhost/pause:1'
/** busybox whose image config runs it as nobody (65534), as an image built with `USER 65534`. */
export const BUSYBOX_NOBODY_IMAGE = 'localhost/busybox-nobody:1'

export interface Containerd {
  readonly pid: number
  /** `unix://…` endpoint for a CRI client. */
  readonly endpoint: string
  readonly socket: string
  /** Scratch directory holding everything of this containerd (logs of pods may go under it too). */
  readonly dir: string
  readonly output: () => string
  /**
   * Connects to an address in containerd's network namespace (a pod IP on its CNI bridge), which
   * this process cannot route to: through a forwarder started in that namespace on first use,
   * reached over a unix socket. What edged's prober and hooks use as their `Dial` in tests.
   */
  readonly dial: Dial
  /** `kill -9` of containerd alone: its shims and containers keep running, as after a crash. */
  readonly kill9: () => Promise<void>
  /** Starts containerd again (after kill9) in the same namespaces and directories; resolves when it has booted. */
  readonly restart: () => Promise<void>
  /**
   * Kills every task it runs, stops containerd by its PID and removes the scratch directory. When
   * containerd cannot be started again to kill its tasks, the shims it started and their containers
   * are killed by PID all the same (leftovers.ts), so nothing is left running.
   */
  readonly stop: () => Promise<void>
}

/** True when containerd, ctr, runc, the CNI plugins and busybox-static are installed (scripts/provision.sh). */
export async function containerdAvailable(): Promise<boolean> {
  try {
    await Promise.all([CONTAINERD_BIN, CTR_BIN, BUSYBOX_BIN, '/usr/sbin/runc', join(CNI_BIN_DIR, 'bridge'), join(CNI_BIN_DIR, 'portmap')].map((p) => access(p)))
    return true
  } catch {
    return false
  }
}

export async function startContainerd(): Promise<Containerd> {
  const scratch = await scratchDir('tern-containerd-')
  const dir = scratch.path
  const socket = join(dir, 'containerd.sock')
  const configPath = await writeConfig(dir, socket)
  const archive = await buildImageArchive(dir)
  // A holder process keeps the private mount and network namespaces: containerd runs inside them
  // (nsenter execs it, so the PID we hold is containerd's own) and can be killed and started again
  // there while its shims, sockets under /run and the CNI state stay. The tmpfs on /var/lib takes
  // the CNI result cache (/var/lib/cni), which containerd 1.6 does not let us move.
  const holder: Child = startChild('unshare', ['--mount', '--net', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib && ip link set lo up && echo namespaces-ready && exec sleep 2147483647'])
  let child: Child | undefined
  let alive = false
  const boot = async (): Promise<void> => {
    alive = true
    const started = startChild('nsenter', ['--target', String(holder.pid), '--mount', '--net', CONTAINERD_BIN, '--config', configPath])
    child = started
    await started.waitForLine((l) => l.includes('containerd successfully booted'), 60_000)
  }
  const ctr = (...args: string[]): Promise<{ stdout: string }> =>
    execFileAsync(CTR_BIN, ['--address', socket, '--namespace', K8S_NAMESPACE, ...args], { timeout: 60_000 })
  try {
    await holder.waitForLine((l) => l.includes('namespaces-ready'), 30_000)
    await boot()
    await ctr('images', 'import', archive)
  } catch (err) {
    await child?.kill9()
    await holder.kill9()
    await scratch.remove()
    throw err
  }
  let forwarder: Promise<Child> | undefined
  const forwarderSocket = join(dir, 'netns-forward.sock')
  return {
    get pid() {
      return child?.pid ?? 0
    },
    endpoint: `unix://${socket}`,
    socket,
    dir,
    output: () => child?.output() ?? '',
    dial: async (host, port) => {
      // the holder keeps the network namespace through restarts of containerd
      forwarder ??= startForwarder(holder.pid, forwarderSocket)
      await forwarder
      return dialThrough(forwarderSocket, host, port)
    },
    kill9: async () => {
      alive = false
      await child?.kill9()
    },
    restart: boot,
    stop: async () => {
      if (forwarder !== undefined) await (await forwarder.catch(() => undefined))?.stop(5_000)
      // Shims outlive containerd: kill and delete every task first, so no container keeps running.
      if (!alive) await boot().catch(() => undefined)
      try {
        const { stdout } = await ctr('tasks', 'ls', '-q')
        for (const id of stdout.split('\n').filter((s) => s.trim() !== '')) {
          await ctr('tasks', 'kill', '-s', 'SIGKILL', id).catch(() => undefined)
          await ctr('tasks', 'delete', '-f', id).catch(() => undefined)
        }
      } catch {
        // containerd cannot answer: the sweep below kills its tasks by PID
      }
      await child?.stop(10_000)
      await killLeftovers(dir, socket)
      await holder.stop(5_000)
      await scratch.remove()
    },
  }
}

/**
 * A TCP forwarder inside the network namespace of process `pid`: it takes `<host> <port>\n` on a
 * unix socket, connects there, answers `OK\n` (or `ERR <code>\n` and closes) and then relays bytes
 * both ways, so the caller sees the real connect outcome and the real stream.
 */
const FORWARDER = `
const net = require('node:net')
net.createServer((c) => {
  let head = Buffer.alloc(0)
  c.on('error', () => undefined)
  const onData = (d) => {
    head = Buffer.concat([head, d])
    const nl = head.indexOf(10)
    if (nl < 0) return
    c.off('data', onData)
    c.pause()
    const [host, port] = head.subarray(0, nl).toString().split(' ')
    const rest = head.subarray(nl + 1)
    const t = net.connect({ host, port: Number(port) })
    t.once('error', (e) => c.end('ERR ' + (e.code || e.message) + '\\n'))
    t.once('connect', () => {
      t.removeAllListeners('error')
      t.on('error', () => c.destroy())
      c.on('close', () => t.destroy())
      c.write('OK\\n')
      if (rest.length > 0) t.write(rest)
      c.pipe(t)
      t.pipe(c)
      c.resume()
    })
  }
  c.on('data', onData)
}).listen(process.argv[1], () => console.log('forwarding'))
`

async function startForwarder(pid: number, socketPath: string): Promise<Child> {
  const fwd = startChild('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '-e', FORWARDER, socketPath])
  try {
    await fwd.waitForLine((l) => l.includes('forwarding'), 30_000)
  } catch (err) {
    await fwd.kill9()
    throw err
  }
  return fwd
}

function dialThrough(socketPath: string, host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath)
    let head = Buffer.alloc(0)
    const fail = (err: Error): void => {
      socket.destroy()
      reject(err)
    }
    const onClose = (): void => fail(Object.assign(new Error(`connect to ${host}:${port} failed: ${head.toString().trim() || 'closed'}`), { code: head.toString().slice(4).trim() }))
    // read the answer in paused mode: once the 'readable' listener is gone the socket is as
    // net.connect leaves it, and whoever adds a 'data' listener gets every byte after the answer
    const onReadable = (): void => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) head = Buffer.concat([head, chunk])
      const nl = head.indexOf(10)
      if (nl < 0) return
      if (!head.subarray(0, nl).equals(Buffer.from('OK'))) return // ERR: the forwarder closes next
      socket.off('readable', onReadable)
      socket.off('close', onClose)
      socket.off('error', fail)
      const rest = head.subarray(nl + 1)
      if (rest.length > 0) socket.unshift(rest)
      resolve(socket)
    }
    socket.on('readable', onReadable)
    socket.once('close', onClose)
    socket.once('error', fail)
    socket.write(`${host} ${port}\n`)
  })
}

/** containerd's default config with every path moved under `dir` and the settings the notes require. */
async function writeConfig(dir: string, socket: string): Promise<string> {
  const cniConfDir = join(dir, 'cni', 'net.d')
  await mkdir(cniConfDir, { recursive: true })
  await writeFile(
    join(cniConfDir, '10-tern-test.conflist'),
    JSON.stringify({
      cniVersion: '0.4.0',
      name: 'tern-test',
      plugins: [
        {
          type: 'bridge',
          bridge: 'terncri0',
          isGateway: true,
          ipMasq: false,
          ipam: { type: 'host-local', dataDir: join(dir, 'cni', 'ipam'), ranges: [[{ subnet: '10.189.0.0/24' }]] },
        },
        { type: 'loopback' },
        // hostPort: DNAT rules in containerd's own network namespace, gone with it
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }),
  )
  const { stdout } = await execFileAsync(CONTAINERD_BIN, ['config', 'default'])
  const set = (text: string, key: string, value: string): string => {
    const re = new RegExp(`^(\\s*${key} = ).*$`, 'm')
    if (!re.test(text)) throw new Error(`containerd config default has no ${key}`)
    return text.replace(re, `$1${JSON.stringify(value)}`)
  }
  let config = stdout
  config = set(config, 'root', join(dir, 'root'))
  config = set(config, 'state', join(dir, 'state'))
  config = config.replace(/^(\[grpc\]\n\s*address = ).*$/m, `$1${JSON.stringify(socket)}`)
  if (!config.includes(socket)) throw new Error('containerd config default: no [grpc] address to set')
  config = set(config, 'sandbox_image', PAUSE_IMAGE)
  config = set(config, 'bin_dir', CNI_BIN_DIR)
  config = set(config, 'conf_dir', cniConfDir)
  config = config.replace('path = "/opt/containerd"', `path = ${JSON.stringify(join(dir, 'opt'))}`)
  // The sandbox asks for oom_score_adj=-998, which needs CAP_SYS_RESOURCE we do not have.
  config = config.replace(/restrict_oom_score_adj = false/, 'restrict_oom_score_adj = true')
  const path = join(dir, 'config.toml')
  await writeFile(path, config)
  return path
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex')

/**
 * One OCI image-layout archive holding both images: a busybox-static root file system as the
 * single layer, with `sh` as the busybox image's command and `sleep` forever as the sandbox's.
 */
async function buildImageArchive(dir: string): Promise<string> {
  const rootfs = join(dir, 'image', 'rootfs')
  for (const d of ['bin', 'sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root']) await mkdir(join(rootfs, d), { recursive: true })
  await copyFile(BUSYBOX_BIN, join(rootfs, 'bin', 'busybox'))
  const { stdout: applets } = await execFileAsync(BUSYBOX_BIN, ['--list'])
  for (const applet of applets.split('\n').filter((a) => a !== '' && a !== 'busybox')) {
    await symlink('busybox', join(rootfs, 'bin', applet))
  }
  await writeFile(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n')
  await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n')
  const layout = join(dir, 'image', 'layout')
  const blobs = join(layout, 'blobs', 'sha256')
  await mkdir(blobs, { recursive: true })
  const layerPath = join(dir, 'image', 'layer.tar')
  await execFileAsync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', layerPath, '.'])
  const layer = await readFile(layerPath)
  const layerDigest = sha256(layer)
  await writeFile(join(blobs, layerDigest), layer)
  const blob = async (mediaType: string, content: object): Promise<{ mediaType: string; digest: string; size: number }> => {
    const text = JSON.stringify(content)
    const digest = sha256(text)
    await writeFile(join(blobs, digest), text)
    return { mediaType, digest: `sha256:${digest}`, size: Buffer.byteLength(text) }
  }
  const architecture = { x64: 'amd64', arm64: 'arm64', arm: 'arm' }[process.arch as string] ?? process.arch
  const manifests = []
  for (const [name, cmd, user] of [
    [BUSYBOX_IMAGE, ['/bin/sh'], ''],
    [PAUSE_IMAGE, ['/bin/sleep', '2147483647'], ''],
    [BUSYBOX_NOBODY_IMAGE, ['/bin/sh'], '65534'],
  ] as const) {
    const config = await blob('application/vnd.oci.image.config.v1+json', {
      architecture,
      os: 'linux',
      config: { Cmd: cmd, Env: ['PATH=/bin:/sbin'], WorkingDir: '/', ...(user === '' ? {} : { User: user }) },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
    })
    const manifest = await blob('application/vnd.oci.image.manifest.v1+json', {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config,
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerDigest}`, size: layer.length }],
    })
    manifests.push({ ...manifest, platform: { architecture, os: 'linux' }, annotations: { 'io.containerd.image.name': name } })
  }
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }))
  const archive = join(dir, 'image', 'images-oci.tar')
  await execFileAsync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', layout, '-cf', archive, 'oci-layout', 'index.json', 'blobs'])
  return archive
}
