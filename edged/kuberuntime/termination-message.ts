/**
 * The termination message, as the kubelet handles it: each container gets an empty file from the
 * node mounted at its `terminationMessagePath` (default /dev/termination-log), where it may write
 * why it ended; once it has exited, the last 4 KiB of that file become its terminated state's
 * message. With `terminationMessagePolicy: FallbackToLogsOnError`, a container that failed (exit
 * code not 0) and wrote nothing there gets the last 80 lines (at most 2 KiB) of its log instead.
 * (pkg/kubelet/kubelet_pods.go makeMounts, kuberuntime_container.go getTerminationMessage and
 * readLastStringFromContainerLogs.) The files live in `<rootDir>/containers/<pod uid>/<container>/`,
 * one per restart, and go with the pod.
 */
import { chmod, mkdir, open, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Container } from '../../schemas/pod.js'
import type { ContainerStatus, Mount } from '../cri/runtime.js'
import { TERMINATION_MESSAGE_PATH, TERMINATION_MESSAGE_POLICY } from '../labels.js'
import { readLogLines } from '../logs/read.js'

/** kubecontainer.MaxContainerTerminationMessageLength */
export const MAX_MESSAGE_BYTES = 4 * 1024
/** MaxContainerTerminationMessageLogLines and MaxContainerTerminationMessageLogLength */
export const MAX_LOG_LINES = 80
export const MAX_LOG_BYTES = 2 * 1024

const podDir = (rootDir: string, uid: string): string => join(rootDir, 'containers', uid)

/** The annotations that carry the path and policy to the container's status (read back after a restart of tern edge). */
export function terminationAnnotations(container: Container): Record<string, string> {
  return {
    ...(container.terminationMessagePath ? { [TERMINATION_MESSAGE_PATH]: container.terminationMessagePath } : {}),
    ...(container.terminationMessagePolicy === undefined ? {} : { [TERMINATION_MESSAGE_POLICY]: container.terminationMessagePolicy }),
  }
}

const messageFile = (rootDir: string, uid: string, container: Container, restartCount: number): string => join(podDir(rootDir, uid), container.name, `termination-log-${restartCount}`)

/** The mount of this restart's file at the container's terminationMessagePath (none without a path); prepareTerminationMessage makes the file. */
export function terminationMessageMount(rootDir: string, uid: string, container: Container, restartCount: number): Mount | undefined {
  if (!container.terminationMessagePath) return undefined
  return { containerPath: container.terminationMessagePath, hostPath: messageFile(rootDir, uid, container, restartCount), readonly: false, propagation: 'PROPAGATION_PRIVATE' }
}

/** Makes the mount's file, empty, before the container is created (a bind mount needs its source). */
export async function prepareTerminationMessage(rootDir: string, uid: string, container: Container, restartCount: number): Promise<void> {
  if (!container.terminationMessagePath) return
  const path = messageFile(rootDir, uid, container, restartCount)
  await mkdir(dirname(path), { recursive: true })
  // 0666 (chmod: the umask would narrow it): a container running as any user may write it
  await writeFile(path, '')
  await chmod(path, 0o666)
}

/** What an exited container left as its termination message ('' when nothing). */
export async function terminationMessage(status: Pick<ContainerStatus, 'annotations' | 'mounts' | 'exitCode' | 'logPath'>): Promise<string> {
  const path = status.annotations[TERMINATION_MESSAGE_PATH]
  const fallback = status.annotations[TERMINATION_MESSAGE_POLICY] === 'FallbackToLogsOnError' && status.exitCode !== 0
  const mount = path === undefined ? undefined : (status.mounts ?? []).find((m) => m.containerPath === path)
  let message = ''
  if (mount !== undefined) {
    try {
      message = await tail(mount.hostPath, MAX_MESSAGE_BYTES)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return `Error on reading termination log ${mount.hostPath}: ${(err as Error).message}`
    }
  }
  if (message !== '' || !fallback || !status.logPath) return message
  const lines = await readLogLines(status.logPath, MAX_LOG_LINES).then(
    (r) => r.lines.map((l) => `${l.text}\n`).join(''),
    () => '',
  )
  const bytes = Buffer.from(lines)
  return bytes.length <= MAX_LOG_BYTES ? lines : bytes.subarray(bytes.length - MAX_LOG_BYTES).toString('utf8')
}

/** Removes the pod's termination message files (with its volumes, once its containers are gone). */
export async function removeTerminationMessages(rootDir: string, uid: string): Promise<void> {
  if (uid === '' || uid.includes('/') || uid === '.' || uid === '..') return
  await rm(podDir(rootDir, uid), { recursive: true, force: true })
}

/** The last `max` bytes of a file (tail.ReadAtMost). */
async function tail(path: string, max: number): Promise<string> {
  const handle = await open(path, 'r')
  try {
    const { size } = await handle.stat()
    const length = Math.min(size, max)
    const buffer = Buffer.alloc(length)
    await handle.read(buffer, 0, length, size - length)
    return buffer.toString('utf8')
  } finally {
    await handle.close()
  }
}
