/** One probe run: the action the probe names, against the container's current id and the pod IP. */
import type { Clock } from '../../mappers/runtime/clock.js'
import type { Container, Probe } from '../../schemas/pod.js'
import type { ContainerRuntime } from '../cri/runtime.js'
import type { Dial } from '../pod-network.js'
import { execProbe } from './exec.js'
import { httpProbe } from './http-get.js'
import type { ProbeOutcome } from './outcome.js'
import { resolvePort } from './port.js'
import { tcpProbe } from './tcp.js'

export interface ProbeTarget {
  runtime: ContainerRuntime
  dial: Dial
  clock: Clock
  container: Container
  containerId: string
  podIP: string
}

export async function runProbe(probe: Probe, t: ProbeTarget): Promise<ProbeOutcome> {
  const timeoutSeconds = probe.timeoutSeconds ?? 1
  if (probe.exec !== undefined) return execProbe(t.runtime, t.containerId, probe.exec.command, timeoutSeconds)
  const action = probe.httpGet ?? probe.tcpSocket
  if (action === undefined) return { result: 'error', output: 'the probe has no exec, httpGet or tcpSocket' }
  const port = resolvePort(action.port, t.container)
  if (port === undefined) return { result: 'error', output: `the container has no port named ${JSON.stringify(action.port)}` }
  const host = action.host ?? t.podIP
  if (probe.httpGet !== undefined) {
    const { scheme = 'HTTP', path = '/', httpHeaders = [] } = probe.httpGet
    return httpProbe(t.dial, t.clock, { scheme, host, port, path, headers: httpHeaders }, timeoutSeconds * 1000)
  }
  return tcpProbe(t.dial, t.clock, host, port, timeoutSeconds * 1000)
}
