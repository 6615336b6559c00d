/**
 * kubectl logs/exec/attach/port-forward for a node with both a cloud link and edged: the stream
 * handler (cloud-sync/streams/edge-serve.ts) on its own CRI connection, served through the cloud
 * link's stream tunnel. Loaded only on such a node.
 */
import type { Logger } from 'pino'
import type { EdgeCloud } from '../cloud-sync/edge/edge-cloud.js'
import type { Edged } from '../edged/edged.js'
import { edgeStreamHandler } from '../cloud-sync/streams/edge-serve.js'
import { connectGrpcRuntime } from '../edged/cri/grpc-runtime.js'
import { edgedRootDir } from '../edged/root-dir.js'
import type { EdgedConfig } from '../schemas/config.js'

/** Starts serving streams; returns the stop step. */
export async function serveStreams(cloud: EdgeCloud, edged: Edged, config: EdgedConfig, dataDir: string, log: Logger): Promise<() => Promise<void>> {
  const runtime = await connectGrpcRuntime({ endpoint: config.runtimeEndpoint, callTimeoutMs: config.runtimeRequestTimeoutSeconds * 1000 })
  const pod = (namespace: string, name: string): ReturnType<Edged['statuses']>[number] | undefined => edged.statuses().find((p) => p.pod.metadata.namespace === namespace && p.pod.metadata.name === name)
  cloud.serveStreams(edgeStreamHandler({ runtime, rootDir: edgedRootDir(config.rootDir, dataDir), pod, log }))
  return () => {
    runtime.close()
    return Promise.resolve()
  }
}
