/**
 * A pod's volumes on the node, as the kubelet's volume manager sets them up: emptyDir as a
 * directory under `<rootDir>/volumes/<pod uid>/<name>` (or a tmpfs there with `medium: Memory`,
 * sized as the kubelet sizes it), hostPath with its type checks, configMap and secret written as
 * files from a resolver (a secret on a tmpfs, so it never reaches the disk); with the pod's fsGroup
 * owning emptyDir, configMap and secret volumes (volumes/ownership.ts). tearDown unmounts
 * everything mounted under the pod's directory, whatever its spec says now, and removes the
 * directory only when nothing is mounted there any more, so a tmpfs is never left behind and a
 * mount is never emptied by the removal.
 */
import { chmod, mkdir, readdir, rm } from 'node:fs/promises'
import { totalmem } from 'node:os'
import { join } from 'node:path'
import { TernError } from '../schemas/tern-error.js'
import type { Pod, Volume } from '../schemas/pod.js'
import { compareQuantities, quantityValue } from './pod/quantity.js'
import { checkHostPath } from './volumes/host-path.js'
import { systemMounter, type Mounter } from './volumes/mounter.js'
import { writeAtomically, type PayloadFile } from './volumes/atomic-writer.js'
import { setVolumeOwnership } from './volumes/ownership.js'

/** The files a ConfigMap or Secret gives a volume, key → bytes; undefined when the node does not hold it. */
export interface VolumeFiles {
  /** `data` (as UTF-8) and `binaryData` (decoded from base64), as the kubelet's configMap volume makes its payload */
  configMapFiles(namespace: string, name: string): Promise<Readonly<Record<string, Uint8Array>> | undefined>
  /** `data`, decoded from base64 */
  secretFiles(namespace: string, name: string): Promise<Readonly<Record<string, Uint8Array>> | undefined>
}

export interface VolumeManagerOptions {
  /** edged's root directory; volumes live in `<rootDir>/volumes/<pod uid>/`. */
  rootDir: string
  mounter?: Mounter
  /** ConfigMap and Secret contents for configMap and secret volumes (without it, such a volume fails to set up). */
  files?: VolumeFiles
  /** Node memory for pods, bytes: the largest a Memory emptyDir can be (default: this machine's). */
  allocatableMemory?: bigint
}

/** emptyDir's permissions (the kubelet's 0777: any user of the pod may write). */
const EMPTY_DIR_MODE = 0o777
const DEFAULT_FILE_MODE = 0o644

export class VolumeManager {
  readonly #o: VolumeManagerOptions
  readonly #mounter: Mounter

  constructor(options: VolumeManagerOptions) {
    this.#o = options
    this.#mounter = options.mounter ?? systemMounter()
  }

  /** The host path of each volume, by name. Rejects with EDGED_VOLUME_SETUP_FAILED; what was set up stays for tearDown. Safe to call again. */
  async setUp(pod: Pod): Promise<Map<string, string>> {
    const paths = new Map<string, string>()
    for (const volume of pod.spec.volumes ?? []) paths.set(volume.name, await this.#setUpOne(pod, volume))
    return paths
  }

  /** Unmounts and removes everything of the pod under `<rootDir>/volumes/<uid>`; host paths are never touched. */
  async tearDown(pod: Pod): Promise<void> {
    await this.tearDownUid(podUid(pod))
  }

  async tearDownUid(uid: string): Promise<void> {
    const dir = this.#podDir(uid)
    for (const mount of await this.#mounter.mountsUnder(dir)) {
      await this.#mounter.unmount(mount).catch((err: Error) => {
        throw new TernError('EDGED_VOLUME_SETUP_FAILED', `cannot unmount ${mount}: ${err.message}`, { cause: err })
      })
    }
    const left = await this.#mounter.mountsUnder(dir)
    if (left.length > 0) throw new TernError('EDGED_VOLUME_SETUP_FAILED', `still mounted after unmounting, not removed: ${left.join(', ')}`)
    await rm(dir, { recursive: true, force: true })
  }

  /** Pod uids that have a volume directory (after a restart, to tear down those of pods that are gone). */
  async podsWithVolumes(): Promise<string[]> {
    return readdir(join(this.#o.rootDir, 'volumes')).catch(() => [])
  }

  #podDir(uid: string): string {
    if (uid === '' || uid.includes('/') || uid === '.' || uid === '..') throw new Error(`not a pod uid: ${JSON.stringify(uid)}`)
    return join(this.#o.rootDir, 'volumes', uid)
  }

  async #setUpOne(pod: Pod, volume: Volume): Promise<string> {
    if (volume.hostPath !== undefined) {
      await checkHostPath(volume.name, volume.hostPath.path, volume.hostPath.type ?? '')
      return volume.hostPath.path
    }
    const dir = join(this.#podDir(podUid(pod)), volume.name)
    if (volume.emptyDir !== undefined) {
      await this.#makeDir(dir, volume.emptyDir.medium === 'Memory' ? memorySize(pod, volume, this.#o.allocatableMemory ?? BigInt(totalmem())) : undefined)
      await this.#own(pod, dir, false)
      return dir
    }
    const source = volume.configMap ?? volume.secret
    if (source !== undefined) {
      const kind = volume.configMap !== undefined ? 'configmap' : 'secret'
      const name = volume.configMap?.name ?? volume.secret?.secretName ?? ''
      const files = this.#o.files
      const data = files === undefined ? undefined : await (kind === 'configmap' ? files.configMapFiles(pod.metadata.namespace, name) : files.secretFiles(pod.metadata.namespace, name))
      if (data === undefined && source.optional !== true) throw new TernError('EDGED_VOLUME_SETUP_FAILED', `volume ${volume.name}: ${kind} "${name}" not found`)
      // A secret stays in memory, as on a kubelet (a Memory emptyDir under it, sized the same way).
      await this.#makeDir(dir, kind === 'secret' ? memorySize(pod, volume, this.#o.allocatableMemory ?? BigInt(totalmem())) : undefined)
      await writeKeys(this.#mounter.reach(dir), volume.name, data ?? {}, source.items, source.defaultMode ?? DEFAULT_FILE_MODE)
      await this.#own(pod, dir, true)
      return dir
    }
    // validatePod refuses every other source.
    throw new TernError('EDGED_VOLUME_SETUP_FAILED', `volume ${volume.name}: no source edged can set up`)
  }

  /** The pod's fsGroup owns the volume (emptyDir read-write; configMap and secret read-only); nothing without one. */
  async #own(pod: Pod, dir: string, readonly: boolean): Promise<void> {
    const fsGroup = pod.spec.securityContext?.fsGroup
    if (fsGroup === undefined) return
    try {
      await setVolumeOwnership(this.#mounter.reach(dir), fsGroup, readonly)
    } catch (err) {
      throw new TernError('EDGED_VOLUME_SETUP_FAILED', `cannot give ${dir} to fsGroup ${fsGroup}: ${(err as Error).message}`, { cause: err })
    }
  }

  /** The directory, 0777, with a tmpfs on it when `tmpfsBytes` is given (mounted once: setUp runs again on every sync). */
  async #makeDir(dir: string, tmpfsBytes: bigint | undefined): Promise<void> {
    try {
      await mkdir(dir, { recursive: true })
      if (tmpfsBytes !== undefined && !(await this.#mounter.mountsUnder(dir)).includes(dir)) {
        await this.#mounter.mountTmpfs(dir, { sizeBytes: tmpfsBytes, mode: EMPTY_DIR_MODE })
      }
      await chmod(this.#mounter.reach(dir), EMPTY_DIR_MODE)
    } catch (err) {
      throw new TernError('EDGED_VOLUME_SETUP_FAILED', `cannot set up ${dir}: ${(err as Error).message}`, { cause: err })
    }
  }
}

const podUid = (pod: Pod): string => pod.metadata.uid ?? ''

/**
 * calculateEmptyDirMemorySize: the node's allocatable memory, lowered to the pod's memory limit
 * when every container declares one, lowered again to the volume's sizeLimit.
 */
export function memorySize(pod: Pod, volume: Volume, allocatable: bigint): bigint {
  let size = allocatable
  const limits = pod.spec.containers.map((c) => c.resources?.limits?.memory)
  if (limits.every((l) => l !== undefined)) {
    const sum = limits.reduce<bigint>((acc, l) => acc + quantityValue(l), 0n)
    // An init container runs alone: the pod needs the larger of the two.
    const init = (pod.spec.initContainers ?? []).map((c) => c.resources?.limits?.memory).reduce<bigint>((acc, l) => (l === undefined ? acc : quantityValue(l) > acc ? quantityValue(l) : acc), 0n)
    const podLimit = sum > init ? sum : init
    if (podLimit > 0n && podLimit <= size) size = podLimit
  }
  const sizeLimit = volume.emptyDir?.sizeLimit
  if (sizeLimit !== undefined && compareQuantities(sizeLimit, 0) > 0 && quantityValue(sizeLimit) <= size) size = quantityValue(sizeLimit)
  return size
}

/** The keys as files (all of them, or the listed items under their paths), each with its mode. */
async function writeKeys(dir: string, volume: string, data: Readonly<Record<string, Uint8Array>>, items: ReadonlyArray<{ key: string; path: string; mode?: number }> | undefined, mode: number): Promise<void> {
  const files = items ?? Object.keys(data).map((key) => ({ key, path: key, mode: undefined }))
  const payload = new Map<string, PayloadFile>()
  for (const item of files) {
    const value = data[item.key]
    if (value === undefined) throw new TernError('EDGED_VOLUME_SETUP_FAILED', `volume ${volume}: configuration key ${JSON.stringify(item.key)} not found`)
    payload.set(item.path, { content: value, mode: item.mode ?? mode })
  }
  // written as the kubelet does: a changed ConfigMap or Secret replaces the files in one step
  await writeAtomically(dir, payload)
}
