/**
 * Edged in this process against a private containerd (test/support/containerd.ts): static pods
 * from a scratch directory, state in memory-level, logs and the snapshot under a scratch root.
 * Tests look at the effects from outside: the runtime's own listings, log files, pods.json.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MemoryLevel } from 'memory-level'
import { pino, type Logger } from 'pino'
import { stringify } from 'yaml'
import { connectGrpcRuntime } from '../../edged/cri/grpc-runtime.js'
import type { Container, ContainerRuntime } from '../../edged/cri/runtime.js'
import { Edged, type EdgedOptions } from '../../edged/edged.js'
import { validatePod } from '../../edged/pod/validate.js'
import { edgedParts } from '../../edged/start.js'
import { StaticPodDir } from '../../edged/sources/static-dir.js'
import type { PodSource } from '../../edged/sources/source.js'
import { systemMounter } from '../../edged/volumes/mounter.js'
import { realClock } from '../../mappers/runtime/clock.js'
import { CONTAINER_NAME, POD_NAME } from '../../edged/labels.js'
import type { PodSnapshot } from '../../edged/status-manager.js'
import type { AnyLevel } from '../../twin/store.js'
import type { EdgedConfig } from '../../schemas/config.js'
import { parseEdgeConfig } from '../../cli/config.js'
import { BUSYBOX_IMAGE, containerdAvailable, startContainerd, type Containerd } from './containerd.js'
import { scratchDir } from './resources.js'

export const NODE = 'edge-test'

type LogRotationConfig = Pick<EdgedConfig, 'containerLogMaxSize' | 'containerLogMaxFiles' | 'containerLogMonitorIntervalSeconds' | 'containerLogMaxWorkers'>

export interface EdgedHarness {
  edged: Edged
  runtime: ContainerRuntime
  manifests: string
  rootDir: string
  logLines: string[]
  stop(): Promise<void>
}

export async function startEdgedHarness(
  containerd: Containerd,
  options: Partial<Pick<EdgedOptions, 'crashBackoff' | 'clock' | 'onPodStatus' | 'recorder' | 'admission' | 'onPodTerminated'>> & { db?: AnyLevel; dir?: string; syncPeriodSeconds?: number; sources?: PodSource[]; logRotation?: Partial<LogRotationConfig> } = {},
): Promise<EdgedHarness & { dir: string; removeDir(): Promise<void> }> {
  const { sources = [], logRotation, ...rest } = options
  const scratch = options.dir === undefined ? await scratchDir('tern-edged-') : { path: options.dir, remove: () => Promise.resolve() }
  const manifests = join(scratch.path, 'manifests')
  const rootDir = join(scratch.path, 'root')
  const { mkdir } = await import('node:fs/promises')
  await mkdir(manifests, { recursive: true })
  const logLines: string[] = []
  const log: Logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) })
  const runtime = await connectGrpcRuntime({ endpoint: containerd.endpoint, callTimeoutMs: 60_000 })
  const db = options.db ?? (new MemoryLevel({ valueEncoding: 'json' }) as unknown as AnyLevel)
  const edged = new Edged({
    // the schema's defaults for what is not set here
    config: { ...parseEdgeConfig({ edged: {} }, 'test').edged!, runtimeEndpoint: containerd.endpoint, syncPeriodSeconds: options.syncPeriodSeconds ?? 0.3, runtimeRequestTimeoutSeconds: 60, rootDir, nodeIP: '10.1.2.3', ...logRotation },
    nodeName: NODE,
    db,
    runtime,
    sources: [new StaticPodDir({ dir: manifests, nodeName: NODE, validate: validatePod, log }), ...sources],
    // tmpfs volumes go where containerd's containers see them: its own mount namespace
    parts: edgedParts(runtime, rootDir, containerd.dial, { clock: options.clock ?? realClock, mounter: systemMounter({ namespacePid: containerd.pid }), ...(options.recorder === undefined ? {} : { recorder: options.recorder }) }),
    log,
    ...rest,
  })
  await edged.start()
  return {
    edged,
    runtime,
    manifests,
    rootDir,
    logLines,
    dir: scratch.path,
    stop: () => edged.stop(),
    removeDir: () => scratch.remove(),
  }
}

/** A v1 Pod of busybox containers running `sh -c <script>` (SIGTERM ends them at once). */
export function busyboxPod(name: string, containers: Record<string, string>, spec: Record<string, unknown> = {}, init: Record<string, string> = {}): Record<string, unknown> {
  const c = (cname: string, script: string): Record<string, unknown> => ({ name: cname, image: BUSYBOX_IMAGE, command: ['/bin/sh', '-c', `trap 'exit 0' TERM; ${script}`] })
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      terminationGracePeriodSeconds: 2,
      ...(Object.keys(init).length === 0 ? {} : { initContainers: Object.entries(init).map(([n, s]) => c(n, s)) }),
      containers: Object.entries(containers).map(([n, s]) => c(n, s)),
      ...spec,
    },
  }
}

/** Long-running script that still reacts to SIGTERM within a fraction of a second. */
export const SLEEP_FOREVER = 'while true; do sleep 0.2; done'

/** Writes a manifest as an editor would save it: a temp file renamed into place. */
export async function writeManifest(dir: string, file: string, pod: Record<string, unknown>): Promise<void> {
  const temp = join(dir, `.${file}.tmp`)
  await writeFile(temp, stringify(pod))
  await rename(temp, join(dir, file))
}

export async function readSnapshot(rootDir: string): Promise<PodSnapshot | undefined> {
  try {
    return JSON.parse(await readFile(join(rootDir, 'pods.json'), 'utf8')) as PodSnapshot
  } catch {
    return undefined
  }
}

/** Containers edged made for pod `name` (as the runtime lists them). */
export async function containersOf(runtime: ContainerRuntime, podName: string, state?: Container['state']): Promise<Container[]> {
  const all = await runtime.listContainers({ labelSelector: { [POD_NAME]: podName }, ...(state === undefined ? {} : { state }) })
  return all.sort((a, b) => (a.labels[CONTAINER_NAME] ?? '').localeCompare(b.labels[CONTAINER_NAME] ?? '') || Number(BigInt(a.createdAt) - BigInt(b.createdAt)))
}

export async function eventually<T>(probe: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined && value !== false) return value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${(last as Error).message}`}`)
    await new Promise((r) => setTimeout(r, 150))
  }
}

/**
 * Call inside a `describe`: one private containerd and one Edged for the file (skipped when
 * containerd is not installed), stopped and removed after it. Returns the running pair.
 */
export function edgedSuite(options: Parameters<typeof startEdgedHarness>[1] = {}): () => { containerd: Containerd; harness: Awaited<ReturnType<typeof startEdgedHarness>> } {
  let containerd: Containerd | undefined
  let harness: Awaited<ReturnType<typeof startEdgedHarness>> | undefined
  before(async function () {
    if (!(await containerdAvailable())) this.skip()
    containerd = await startContainerd()
    harness = await startEdgedHarness(containerd, options)
  })
  after(async () => {
    await harness?.stop()
    await containerd?.stop()
    await harness?.removeDir()
  })
  return () => {
    if (containerd === undefined || harness === undefined) throw new Error('edgedSuite: used outside its describe')
    return { containerd, harness }
  }
}
