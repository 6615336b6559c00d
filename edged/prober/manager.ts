/**
 * The probe manager (the kubelet's pkg/kubelet/prober/prober_manager.go): runs the liveness,
 * readiness and startup probes of each running container and answers whether it has started and is
 * ready. The sync loop tells it which container (id) runs for each container of a pod; a new id
 * (the container was restarted) starts its probes afresh. Liveness and startup failures are handed
 * to the sync loop to kill the container (`onLivenessFailure`); ready/started changes to the status
 * manager (`onChange`).
 */
import type { Logger } from 'pino'
import { realClock, type Clock } from '../../mappers/runtime/clock.js'
import type { Container, Pod } from '../../schemas/pod.js'
import type { ContainerRuntime } from '../cri/runtime.js'
import type { ObservedPod } from '../kuberuntime/observe.js'
import { dialTcp, type Dial } from '../pod-network.js'
import { runProbe, type ProbeTarget } from './run-probe.js'
import { ProbeWorker, type ProbeKind, type ProbeResult } from './worker.js'

export interface ProbeManagerOptions {
  runtime: ContainerRuntime
  log: Logger
  clock?: Clock
  /** How httpGet and tcpSocket probes reach the pod network (default: a TCP connect from this process). */
  dial?: Dial
  /**
   * A liveness or startup probe failed failureThreshold times: the container must be killed and
   * restarted per the pod's restartPolicy. `gracePeriodSeconds` is the probe's own
   * terminationGracePeriodSeconds when it sets one (else the pod's applies).
   */
  onLivenessFailure(podUid: string, containerName: string, message: string, gracePeriodSeconds?: number): void
  /** A container's ready or started state changed. */
  onChange(podUid: string): void
  /** A probe failed failureThreshold times (the kubelet's `Unhealthy` event). */
  onFailure?(podUid: string, containerName: string, kind: ProbeKind, output: string): void
}

export interface ContainerProbeState {
  ready: boolean
  started: boolean
}

interface Tracked {
  containerId: string
  target: ProbeTarget
  workers: Partial<Record<ProbeKind, ProbeWorker>>
}

const KINDS = ['startup', 'liveness', 'readiness'] as const
const PROBE_FIELD = { startup: 'startupProbe', liveness: 'livenessProbe', readiness: 'readinessProbe' } as const

export class ProbeManager {
  readonly #o: ProbeManagerOptions
  readonly #clock: Clock
  readonly #dial: Dial
  /** pod uid → container name → what runs and its probes */
  readonly #pods = new Map<string, Map<string, Tracked>>()

  constructor(options: ProbeManagerOptions) {
    this.#o = options
    this.#clock = options.clock ?? realClock
    this.#dial = options.dial ?? dialTcp
  }

  /** Probes run for the app containers running in the pod's current sandbox, and stop with them (`hostIP`: where hostNetwork pods answer). */
  track(pod: Pod, observed: ObservedPod | undefined, hostIP: string): void {
    const uid = pod.metadata.uid ?? ''
    const sandbox = observed?.sandboxes.filter((s) => s.state === 'SANDBOX_READY').sort((a, b) => b.createdAt - a.createdAt)[0]
    for (const spec of pod.spec.containers) {
      const running = observed?.containers.find((c) => c.name === spec.name && c.sandboxId === sandbox?.id && c.state === 'CONTAINER_RUNNING')
      if (running === undefined) this.removeContainer(uid, spec.name)
      else this.addContainer(pod, spec, running.id, pod.spec.hostNetwork === true ? hostIP : (sandbox?.ip ?? ''), running.startedAt || undefined)
    }
  }

  /**
   * The container `containerId` runs for `container` of `pod` (just started, or found running
   * after a restart of tern edge: `startedAtMs` then says since when, for initialDelaySeconds).
   * Calling it again with the same id changes nothing; with another id the probes start afresh.
   */
  addContainer(pod: Pod, container: Container, containerId: string, podIP: string, startedAtMs = this.#clock.now()): void {
    const uid = pod.metadata.uid ?? pod.metadata.name
    const containers = this.#pods.get(uid) ?? new Map<string, Tracked>()
    this.#pods.set(uid, containers)
    const old = containers.get(container.name)
    if (old?.containerId === containerId) {
      // a hostNetwork pod's address is the node's, which may change while the container runs
      old.target.podIP = podIP
      return
    }
    if (old !== undefined) this.#stop(old)
    const target: ProbeTarget = { runtime: this.#o.runtime, dial: this.#dial, clock: this.#clock, container, containerId, podIP }
    const tracked: Tracked = { containerId, target, workers: {} }
    containers.set(container.name, tracked)
    const log = this.#o.log.child({ pod: `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`, container: container.name })
    for (const kind of KINDS) {
      const probe = container[PROBE_FIELD[kind]]
      if (probe === undefined) continue
      tracked.workers[kind] = new ProbeWorker(
        kind,
        probe,
        {
          clock: this.#clock,
          run: (p) => runProbe(p, target),
          mayProbe: (k) => k === 'startup' ? tracked.workers.startup?.result !== 'success' : this.#started(tracked),
          onResult: (k, result, output) => this.#onResult(uid, container, tracked, k, result, output, log),
        },
        startedAtMs,
      )
    }
    // a container with no probes is started and ready at once
    this.#o.onChange(uid)
  }

  removeContainer(podUid: string, containerName: string): void {
    const containers = this.#pods.get(podUid)
    const tracked = containers?.get(containerName)
    if (tracked === undefined) return
    this.#stop(tracked)
    containers!.delete(containerName)
    if (containers!.size === 0) this.#pods.delete(podUid)
  }

  removePod(podUid: string): void {
    for (const tracked of this.#pods.get(podUid)?.values() ?? []) this.#stop(tracked)
    this.#pods.delete(podUid)
  }

  /** Started: no startup probe, or it succeeded. Ready: started, and no readiness probe or it succeeds. Untracked: neither. */
  state(podUid: string, containerName: string): ContainerProbeState {
    const tracked = this.#pods.get(podUid)?.get(containerName)
    if (tracked === undefined) return { ready: false, started: false }
    const started = this.#started(tracked)
    const readiness = tracked.workers.readiness
    return { started, ready: started && (readiness === undefined || readiness.result === 'success') }
  }

  /** Stops every probe (edged is stopping). */
  stop(): void {
    for (const uid of [...this.#pods.keys()]) this.removePod(uid)
  }

  #started(tracked: Tracked): boolean {
    const startup = tracked.workers.startup
    return startup === undefined || startup.result === 'success'
  }

  #stop(tracked: Tracked): void {
    for (const w of Object.values(tracked.workers)) w.stop()
  }

  #onResult(uid: string, container: Container, tracked: Tracked, kind: ProbeKind, result: ProbeResult, output: string, log: Logger): void {
    if (this.#pods.get(uid)?.get(container.name) !== tracked) return // replaced meanwhile
    const name = kind.charAt(0).toUpperCase() + kind.slice(1)
    if (result === 'failure') {
      log.info({ probe: kind, output }, `${name} probe failed`)
      this.#o.onFailure?.(uid, container.name, kind, output)
    }
    if (kind === 'startup' && result === 'success') tracked.workers.readiness?.trigger()
    if (kind !== 'readiness' && result === 'failure') {
      const probe = container[PROBE_FIELD[kind]]
      this.#o.onLivenessFailure(uid, container.name, `Container ${container.name} failed ${kind} probe, will be restarted: ${output}`.trim(), probe?.terminationGracePeriodSeconds)
    }
    this.#o.onChange(uid)
  }
}
