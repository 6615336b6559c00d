/**
 * Where edged says what happened to a pod, as the kubelet's event recorder does (reasons from
 * kubernetes pkg/kubelet/events/event.go): Pulling, Pulled, Created, Started, Killing, BackOff,
 * Failed, Unhealthy, FailedMount, FailedCreatePodSandBox... The recorder given to edged decides
 * where events go (the cloud link, for pods of source `api`); without one they go nowhere.
 */
import type { Pod } from '../schemas/pod.js'
import { CONFIG_SOURCE_ANNOTATION } from './sources/static-pod.js'

export type EventType = 'Normal' | 'Warning'

export interface EventRecorder {
  event(pod: Pod, type: EventType, reason: string, message: string): void
}

export const noEvents: EventRecorder = { event: () => undefined }

/** The kubelet's config source of pods from the API server (`kubernetes.io/config.source`). */
export const API_SOURCE = 'api'

/** Whether a pod came from the API server: static pods carry their own source (`file`) and are not reported. */
export function fromApi(pod: Pod): boolean {
  const source = pod.metadata.annotations?.[CONFIG_SOURCE_ANNOTATION]
  return source === undefined || source === API_SOURCE
}

/** Only events about pods from the API server reach `recorder`. */
export function apiPodsOnly(recorder: EventRecorder): EventRecorder {
  return { event: (pod, type, reason, message) => (fromApi(pod) ? recorder.event(pod, type, reason, message) : undefined) }
}
