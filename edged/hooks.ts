/**
 * Lifecycle hooks (postStart, preStop) as the kubelet runs them (pkg/kubelet/lifecycle/handlers.go):
 * exec through the runtime's ExecSync (a non-zero exit fails the hook), httpGet to the pod IP
 * unless the hook names a host (any HTTP answer, whatever its status, counts: only a request that
 * gets no answer fails), sleep. tcpSocket is accepted by the API for old manifests and fails at
 * run time, as on a kubelet. Every failure rejects with EDGED_HOOK_FAILED; the caller decides what
 * it means (a failed postStart kills the container, a failed preStop is only reported).
 */
import { realClock, type Clock } from '../mappers/runtime/clock.js'
import { TernError } from '../schemas/tern-error.js'
import type { Container, LifecycleHandler } from '../schemas/pod.js'
import type { ContainerRuntime } from './cri/runtime.js'
import { dialTcp, type Dial } from './pod-network.js'
import { httpGet } from './prober/http-get.js'
import { resolvePort } from './prober/port.js'
import { withTimeout } from './prober/tcp.js'

export interface HandlerTarget {
  containerId: string
  podIP: string
  /** The container's spec: named ports resolve from its `ports`. */
  container: Container
}

export interface HandlerOptions {
  /** How the pod network is reached (default: a TCP connect from this process). */
  dial?: Dial
  clock?: Clock
}

export async function runHandler(runtime: ContainerRuntime, target: HandlerTarget, handler: LifecycleHandler, timeoutSeconds: number, options: HandlerOptions = {}): Promise<void> {
  const fail = (what: string, why: string, cause?: unknown): TernError =>
    new TernError('EDGED_HOOK_FAILED', `${what} hook for container ${JSON.stringify(target.container.name)} failed: ${why}`, cause === undefined ? undefined : { cause })
  const clock = options.clock ?? realClock
  if (handler.exec !== undefined) {
    const command = handler.exec.command
    let r
    try {
      r = await runtime.execSync(target.containerId, command, timeoutSeconds)
    } catch (err) {
      throw fail(`exec ${JSON.stringify(command)}`, (err as Error).message, err)
    }
    if (r.exitCode !== 0) {
      const output = Buffer.concat([r.stdout, r.stderr]).toString('utf8').trim()
      throw fail(`exec ${JSON.stringify(command)}`, `exit code ${r.exitCode}${output === '' ? '' : `: ${output.slice(0, 1024)}`}`)
    }
    return
  }
  if (handler.httpGet !== undefined) {
    const action = handler.httpGet
    const port = resolvePort(action.port, target.container)
    if (port === undefined) throw fail('httpGet', `the container has no port named ${JSON.stringify(action.port)}`)
    const request = { scheme: action.scheme ?? 'HTTP', host: action.host ?? target.podIP, port, path: action.path ?? '/', headers: action.httpHeaders ?? [] } as const
    try {
      await httpGet(options.dial ?? dialTcp, clock, request, timeoutSeconds * 1000)
    } catch (err) {
      throw fail('httpGet', (err as Error).message, err)
    }
    return
  }
  if (handler.sleep !== undefined) {
    const ms = handler.sleep.seconds * 1000
    const slept = await withTimeout(clock, new Promise<void>((resolve) => clock.setTimeout(resolve, ms)), timeoutSeconds * 1000)
    // a sleep cut short by the grace period is a failed hook on a kubelet too
    if (slept === 'timeout' && ms > timeoutSeconds * 1000) throw fail('sleep', `the container's time ran out after ${timeoutSeconds}s of a ${handler.sleep.seconds}s sleep`)
    return
  }
  if (handler.tcpSocket !== undefined) throw fail('tcpSocket', 'tcpSocket is not supported as a lifecycle hook (the Kubernetes API keeps it only for old manifests)')
  throw fail('empty', 'the handler has no exec, httpGet or sleep')
}
