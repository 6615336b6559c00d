/**
 * `npm run bench`: runs the benchmarks of DESIGN.md §8 and prints their results as JSON lines on
 * stdout (progress goes to stderr). Builds dist/ first when it is older than the sources, because
 * the brokers under test run the built `tern` command. Options (`npm run bench -- --duration 4`):
 *
 *   --only broker              which benches to run (comma list; default: all)
 *   --skip-build               run dist/ as it is
 * broker (embedded broker vs Mosquitto, bench/broker.ts; about 3 minutes with the defaults):
 *   --duration 8               seconds of measured throughput per case and broker
 *   --warmup 5                 seconds of unmeasured load before it (tern's young generation
 *                              grows to the load after 3 s busy; the warm-up's rate is reported too)
 *   --latency-duration 5       seconds of recorded latency per case and broker
 *   --rate-fraction 0.5        latency load, as a fraction of the lower broker's throughput
 *   --slow-consumer-rate 5000  deliveries/s of the slow-consumer case (fan-in QoS 1, one subscriber stalled); 0 skips it
 *   --cases fan-in:0,fan-in:1,fan-out:0,fan-out:1
 *   --brokers tern,mosquitto
 *   --clients 20               publishers (fan-in) or subscribers (fan-out)
 *   --payload 64               bytes per message
 *   --window 1000              most messages published and not yet received
 *   --inflight 32              most unacknowledged QoS 1 PUBLISH per publisher
 *   --batch 32                 most messages per socket write of a publisher
 *   --mosquitto-conf 'LINE'    mosquitto.conf lines, repeatable; replaces the default
 *                              `max_inflight_messages 0` ('' for Mosquitto's own defaults)
 *   --skip-calibration         skip measuring the generator against a null broker
 *   --cpu-prof                 write a V8 CPU profile of the tern process to .tmp/bench-profiles/
 *   --out FILE                 default bench/results/broker-latest.json
 * twin (DeviceTwin end to end, bench/twin.ts; about 40 s with the defaults):
 *   --devices 1000             member devices of the node
 *   --twin-duration 10         seconds of measured throughput, then as many of paced latency
 *   --starts 3                 restarts with the devices persisted, for the start time
 *   --with-mapper modbus       also run the Modbus mapper in the node (DESIGN.md §8 RSS target),
 *                              its 1,000 devices polled on a pymodbus peer; modbus-down: on a
 *                              port that refuses; results then go to twin-<mapper>-latest.json
 *   --gateway-memory 1024      run tern in a memory cgroup of that many MiB (root), so V8 sizes
 *                              its heap as on a gateway with that RAM (bench/gateway.ts);
 *                              results then go to twin[-<mapper>]-gateway<MiB>-latest.json
 *   --http off                 the node's metrics listener: off (`http: false`, nothing of it loaded),
 *                              an address such as 127.0.0.1:9464, or `default` for no `http` key (what a
 *                              TERN_BENCH_BIN from before the listener needs); default 127.0.0.1:0
 *   results also go to bench/results/twin-latest.json
 * modbus (batched vs one request per property, 100 registers, pymodbus over TCP and RTU):
 *   results also go to bench/results/modbus-latest.json
 * opcua (1,000 monitored items on one node-opcua server delivered to the twin, bench/opcua.ts):
 *   results also go to bench/results/opcua-latest.json
 * cloud (one tern cloud, simulated edge nodes, and kubectl patch → register latency, bench/cloud.ts;
 * about 4 minutes with the defaults; `--cloud-nodes 50 --cloud-devices 20 --cloud-duration 5` is a
 * smoke run of seconds):
 *   --cloud-nodes 1000         simulated edge nodes (EdgeHub over TLS each, one process)
 *   --cloud-devices 100        Devices per node (created through the API emulator's API)
 *   --cloud-namespaces 10      namespaces (one DeviceModel each) the devices are spread over
 *   --cloud-rate 20000         twin updates/s offered at the edges, all devices round-robin;
 *                              0 = every device always has a newer value
 *   --cloud-warmup 5           seconds of unmeasured load
 *   --cloud-duration 30        seconds of measured load
 *   --cloud-qps 50             tern cloud status.qps (the status PATCH budget, which caps
 *                              patches/s); a comma list runs the scale part once per value
 *   --cloud-burst 100          tern cloud status.burst
 *   --cloud-resend-ms 5000     the simulated edges' re-send interval of unanswered reports
 *   --cloud-plain-ws           CloudHub without TLS (default: TLS, as deployed)
 *   --cloud-latency-runs 30    kubectl patch → register repetitions (0 skips that part)
 *   --cloud-skip-scale         only the latency part
 *   results also go to bench/results/cloud-latest.json
 * cloud-workloads (one tern cloud keeping 1,000 simulated nodes' Nodes, Leases and 10 pods each:
 * API requests/s by verb and resource, CPU, RSS, time to all pods Running, bench/cloud-workloads.ts;
 * about 9 minutes with the defaults on an idle machine, most of it the rollout at status.qps 50,
 * and up to 20 on a busy one, where 1,000 TLS connects take minutes;
 * `--workloads-nodes 50 --workloads-duration 10 --workloads-warmup 2` is a smoke run of a minute):
 *   --workloads-nodes 1000     simulated edge nodes
 *   --workloads-pods 10        pods per node, created at once, reported Running by the nodes
 *   --workloads-status-seconds 60  the nodes' Node status interval (tern edge: on a change, else
 *                              every 300 s)
 *   --workloads-warmup 20      seconds after every node is Ready before the first measurement
 *   --workloads-duration 60    seconds of each steady-state measurement (without and with pods)
 *   --workloads-qps 50         tern cloud status.qps (pod status PATCHes share it)
 *   --workloads-burst 100      tern cloud status.burst
 *   --cloud-plain-ws           CloudHub without TLS here too
 *   results also go to bench/results/cloud-workloads-latest.json
 * cloud-cache (what tern cloud holds for Secrets no edge pod uses: its highest and settled RSS and
 * live heap with 2,000 Secrets of 100 KiB in the emulator, bench/cloud-cache.ts; about 2 minutes):
 *   --cache-secrets 2000       Secrets in the emulator, none referenced by a pod
 *   --cache-secret-kib 100     random data in each (as a Helm release Secret)
 *   --cache-rounds 2           fresh tern cloud starts measured one after the other
 *   results also go to bench/results/cloud-cache-latest.json
 * identity (node connects with mutual TLS vs the shared secret, bench/identity.ts; about 2 minutes
 * with the defaults):
 *   --identity-nodes 1000      nodes that connect at once after CloudHub starts, and again after it restarts
 *   --identity-connects 200    connects measured one at a time (latency, CPU per connect)
 *   results also go to bench/results/identity-latest.json
 * edged (static pods on a private containerd through the built tern edge, bench/edged.ts; about 8
 * minutes with the defaults; root, containerd and runc installed):
 *   --edged-pods 20            pods written one at a time (manifest → running), and made through the CRI alone
 *   --edged-scale-pods 50      pods on the node for the all-at-once, restart and memory parts
 *   --edged-containers 2       containers per pod
 *   results also go to bench/results/edged-latest.json
 * edged-extremes (operators' sizes through the API emulator, the built tern cloud and tern edge on a
 * private containerd, with the twin's round trip sampled throughout, bench/edged-extremes.ts; about
 * 10 minutes; root, containerd):
 *   --extremes-configmap-pods 50   pods mounting one ConfigMap of --extremes-configmap-kib 1024 KiB (four keys)
 *   --extremes-secret-pods 10      pods mounting a Secret changed --extremes-secret-rate 10 times a second
 *                                  for --extremes-secret-seconds 60
 *   --extremes-burst-pods 100      pods created at once on a node without others (before them, as many
 *                                  made by the bench through the CRI at once: the runtime's floor)
 *   --cpu-prof                     a V8 CPU profile of tern edge to .tmp/bench-profiles/
 *   results also go to bench/results/edged-extremes-latest.json
 * log-rotation (CPU time of container log rotation and its gzip, in this process, for a container
 * on a private containerd writing base64 text at 5 MB/s, against the same 60 s without rotation,
 * bench/log-rotation.ts; about 3 minutes; root, containerd):
 *   results also go to bench/results/log-rotation-latest.json
 * metrics (the metrics listener's cost to twin throughput, bench/metrics-cost.ts; ~3 minutes):
 *   --metrics-rounds 5         rounds of one run with http on (scraped every 5 s) and one with http: false,
 *                              alternating; --devices and --twin-duration as for twin
 *   results also go to bench/results/metrics-latest.json
 * scrapes (what --scrapes 128 GET /metrics sent at once cost the broker's clients: an MQTT client's
 * QoS 0 round trip every 5 ms on tern edge's bus with --devices devices, quiet and while each of
 * --scrape-bursts 10 bursts is answered; bench/scrapes.ts; about a minute):
 *   results also go to bench/results/scrapes-latest.json
 * streams (kubectl exec latency, kubectl logs / exec cat throughput through the stream tunnel vs the
 * edge reading the CRI log itself, exec output against input with tern's CPU, port-forward against
 * the pod IP, and a control message's round trip on a shared 2 MB/s uplink with streams on the
 * session's connection or their own, bench/streams.ts; about 3 minutes; root, containerd):
 *   --streams-flood-lines 200000  lines of 200 characters logged (and as many bytes cat reads)
 *   --streams-exec-mb 50       MB of random bytes out of kubectl exec (cat) and into it (sha256sum),
 *                              each transfer checked by size and SHA-256, with tern edge's and tern
 *                              cloud's CPU per MB each way
 *   results also go to bench/results/streams-latest.json
 * web (the web view's page and files as the built tern edge serves them, plain and gzipped,
 * bench/web-assets.ts; seconds):
 *   results also go to bench/results/web-latest.json
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { DEFAULTS, estimateSeconds, runBrokerBench, type BrokerBenchOptions } from './broker.js'
import { stopAllChildren, type BrokerName } from './servers.js'
import { MODBUS_DEFAULTS, modbusEstimateSeconds, runModbusBench } from './modbus.js'
import { OPCUA_DEFAULTS, opcuaEstimateSeconds, runOpcuaBench } from './opcua.js'
import { CLOUD_DEFAULTS, cloudEstimateSeconds, runCloudBench, type CloudBenchOptions } from './cloud.js'
import { CLOUD_CACHE_DEFAULTS, cloudCacheEstimateSeconds, runCloudCacheBench } from './cloud-cache.js'
import { CLOUD_WORKLOADS_DEFAULTS, cloudWorkloadsEstimateSeconds, runCloudWorkloadsBench, type CloudWorkloadsOptions } from './cloud-workloads.js'
import { TWIN_BENCH_MAPPERS, TWIN_DEFAULTS, runTwinBench, twinEstimateSeconds, type TwinBenchMapper, type TwinBenchOptions } from './twin.js'
import { IDENTITY_DEFAULTS, identityEstimateSeconds, runIdentityBench } from './identity.js'
import { EDGED_DEFAULTS, edgedEstimateSeconds, runEdgedBench } from './edged.js'
import { EDGED_EXTREMES_DEFAULTS, edgedExtremesEstimateSeconds, runEdgedExtremesBench } from './edged-extremes.js'
import { METRICS_COST_DEFAULTS, metricsCostEstimateSeconds, runMetricsCostBench } from './metrics-cost.js'
import { runScrapesBench, SCRAPES_DEFAULTS, scrapesEstimateSeconds } from './scrapes.js'
import { STREAMS_DEFAULTS, runStreamsBench, streamsEstimateSeconds } from './streams.js'
import { LOG_ROTATION_DEFAULTS, logRotationEstimateSeconds, runLogRotationBench } from './log-rotation.js'
import { runWebAssetsBench, webAssetsEstimateSeconds } from './web-assets.js'

const ROOT = resolve(import.meta.dirname, '..')
const BENCHES = ['broker', 'twin', 'modbus', 'opcua', 'cloud', 'cloud-workloads', 'cloud-cache', 'identity', 'edged', 'edged-extremes', 'metrics', 'scrapes', 'streams', 'web', 'log-rotation'] as const

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    'latency-duration': { type: 'string' },
    clients: { type: 'string' },
    payload: { type: 'string' },
    window: { type: 'string' },
    inflight: { type: 'string' },
    batch: { type: 'string' },
    'rate-fraction': { type: 'string' },
    'slow-consumer-rate': { type: 'string' },
    brokers: { type: 'string' },
    cases: { type: 'string' },
    'skip-calibration': { type: 'boolean' },
    'skip-build': { type: 'boolean' },
    'cpu-prof': { type: 'boolean' },
    'mosquitto-conf': { type: 'string', multiple: true },
    out: { type: 'string' },
    devices: { type: 'string' },
    'twin-duration': { type: 'string' },
    starts: { type: 'string' },
    'with-mapper': { type: 'string' },
    'gateway-memory': { type: 'string' },
    http: { type: 'string' },
    'cloud-nodes': { type: 'string' },
    'cloud-devices': { type: 'string' },
    'cloud-namespaces': { type: 'string' },
    'cloud-rate': { type: 'string' },
    'cloud-warmup': { type: 'string' },
    'cloud-duration': { type: 'string' },
    'cloud-qps': { type: 'string' },
    'cloud-burst': { type: 'string' },
    'cloud-resend-ms': { type: 'string' },
    'cloud-plain-ws': { type: 'boolean' },
    'cloud-latency-runs': { type: 'string' },
    'cloud-skip-scale': { type: 'boolean' },
    'workloads-nodes': { type: 'string' },
    'workloads-pods': { type: 'string' },
    'workloads-status-seconds': { type: 'string' },
    'workloads-warmup': { type: 'string' },
    'workloads-duration': { type: 'string' },
    'workloads-qps': { type: 'string' },
    'workloads-burst': { type: 'string' },
    'cache-secrets': { type: 'string' },
    'cache-secret-kib': { type: 'string' },
    'cache-rounds': { type: 'string' },
    'identity-nodes': { type: 'string' },
    'identity-connects': { type: 'string' },
    'edged-pods': { type: 'string' },
    'metrics-rounds': { type: 'string' },
    scrapes: { type: 'string' },
    'scrape-bursts': { type: 'string' },
    'edged-scale-pods': { type: 'string' },
    'edged-containers': { type: 'string' },
    'extremes-configmap-pods': { type: 'string' },
    'extremes-configmap-kib': { type: 'string' },
    'extremes-secret-pods': { type: 'string' },
    'extremes-secret-rate': { type: 'string' },
    'extremes-secret-seconds': { type: 'string' },
    'extremes-burst-pods': { type: 'string' },
    'streams-flood-lines': { type: 'string' },
    'streams-exec-mb': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
})

const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`)

function num(name: keyof typeof values, fallback: number, min: number): number {
  const raw = values[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, got ${String(raw)}`)
  return n
}

function parseCase(text: string): BrokerBenchOptions['cases'][number] {
  const [scenario, qos] = text.split(':')
  if ((scenario === 'fan-in' || scenario === 'fan-out') && (qos === '0' || qos === '1')) return { scenario, qos: qos === '1' ? 1 : 0 }
  throw new Error(`--cases: expected a list of fan-in:0, fan-in:1, fan-out:0, fan-out:1; got ${text}`)
}

function brokerOptions(): BrokerBenchOptions {
  const brokers = values.brokers?.split(',') ?? DEFAULTS.brokers
  for (const b of brokers) if (b !== 'tern' && b !== 'mosquitto') throw new Error(`unknown broker ${b}`)
  const cases = values.cases?.split(',').map(parseCase) ?? DEFAULTS.cases
  return {
    duration: num('duration', DEFAULTS.duration, 1),
    warmup: num('warmup', DEFAULTS.warmup, 0),
    latencyDuration: num('latency-duration', DEFAULTS.latencyDuration, 1),
    slowConsumerRate: num('slow-consumer-rate', DEFAULTS.slowConsumerRate, 0),
    clients: num('clients', DEFAULTS.clients, 1),
    payloadBytes: num('payload', DEFAULTS.payloadBytes, 8),
    window: num('window', DEFAULTS.window, 1),
    inflight: num('inflight', DEFAULTS.inflight, 1),
    batch: num('batch', DEFAULTS.batch, 1),
    rateFraction: num('rate-fraction', DEFAULTS.rateFraction, 0.01),
    brokers: brokers as BrokerName[],
    cases,
    calibrate: values['skip-calibration'] !== true,
    mosquittoConf: values['mosquitto-conf'] ?? DEFAULTS.mosquittoConf,
    ...(values['cpu-prof'] === true ? { cpuProfDir: resolve(ROOT, '.tmp/bench-profiles') } : {}),
    out: values.out === undefined ? DEFAULTS.out : resolve(values.out),
  }
}

function newestSource(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path))
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

function ensureBuilt(): void {
  const built = (() => {
    try {
      return statSync(resolve(ROOT, 'dist/cli/tern.js')).mtimeMs
    } catch {
      return 0
    }
  })()
  const sources = Math.max(...['broker', 'cli', 'cloud-sync', 'edged', 'schemas', 'types', 'twin', 'mappers', 'metrics', 'web'].map((d) => newestSource(resolve(ROOT, d))))
  if (built >= sources) return
  log('dist/ is older than the sources: building (npm run build)')
  const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: ['ignore', 2, 2] })
  if (build.status !== 0) throw new Error('the build failed')
}

async function main(): Promise<void> {
  if (values.help === true) {
    const doc = /\/\*\*\n([\s\S]*?)\*\//.exec(readFileSync(import.meta.filename, 'utf8'))?.[1] ?? ''
    process.stdout.write(doc.replace(/^ \* ?/gm, ''))
    return
  }
  const only = values.only?.split(',') ?? [...BENCHES]
  for (const name of only) if (!(BENCHES as readonly string[]).includes(name)) throw new Error(`unknown bench ${name}; known: ${BENCHES.join(', ')}`)
  if (values['skip-build'] !== true) ensureBuilt()
  if (only.includes('broker')) {
    const options = brokerOptions()
    await withWatchdog('broker', estimateSeconds(options), () => runBrokerBench(options, log))
  }
  if (only.includes('twin')) {
    const options = twinOptions()
    const result = await withWatchdog('twin', twinEstimateSeconds(options), () => runTwinBench(options, log))
    mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
    const out = `twin${options.mapper === undefined ? '' : `-${options.mapper}`}${options.gatewayMemoryMiB === undefined ? '' : `-gateway${options.gatewayMemoryMiB}`}-latest.json`
    writeFileSync(resolve(ROOT, 'bench/results', out), `${JSON.stringify({ machine: machine(), result }, null, 2)}\n`)
  }
  if (only.includes('modbus')) {
    const result = await withWatchdog('modbus', modbusEstimateSeconds(MODBUS_DEFAULTS), () => runModbusBench(MODBUS_DEFAULTS, log))
    mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(resolve(ROOT, 'bench/results/modbus-latest.json'), `${JSON.stringify({ machine: machine(), result }, null, 2)}\n`)
  }
  if (only.includes('opcua')) {
    const result = await withWatchdog('opcua', opcuaEstimateSeconds(OPCUA_DEFAULTS), () => runOpcuaBench(OPCUA_DEFAULTS, log))
    writeFileSync(resolve(ROOT, 'bench/results/opcua-latest.json'), `${JSON.stringify({ machine: machine(), result }, null, 2)}\n`)
  }
  if (only.includes('cloud')) {
    const options = cloudOptions()
    const result = await withWatchdog('cloud', cloudEstimateSeconds(options), () => runCloudBench(options, log))
    mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(resolve(ROOT, 'bench/results/cloud-latest.json'), `${JSON.stringify({ machine: machine(), options, result }, null, 2)}\n`)
  }
  if (only.includes('cloud-workloads')) {
    const options = workloadsOptions()
    const result = await withWatchdog('cloud-workloads', cloudWorkloadsEstimateSeconds(options), () => runCloudWorkloadsBench(options, log))
    mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(resolve(ROOT, 'bench/results/cloud-workloads-latest.json'), `${JSON.stringify({ machine: machine(), options, result }, null, 2)}\n`)
  }
  if (only.includes('cloud-cache')) {
    const d = CLOUD_CACHE_DEFAULTS
    const options = { ...d, secrets: num('cache-secrets', d.secrets, 0), secretKiB: num('cache-secret-kib', d.secretKiB, 1), rounds: num('cache-rounds', d.rounds, 1) }
    const result = await withWatchdog('cloud-cache', cloudCacheEstimateSeconds(options), () => runCloudCacheBench(options, log))
    mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(resolve(ROOT, 'bench/results/cloud-cache-latest.json'), `${JSON.stringify({ machine: machine(), options, result }, null, 2)}
`)
  }
  if (only.includes('identity')) {
    const options = { nodes: num('identity-nodes', IDENTITY_DEFAULTS.nodes, 1), connects: num('identity-connects', IDENTITY_DEFAULTS.connects, 1) }
    const result = await withWatchdog('identity', identityEstimateSeconds(options), () => runIdentityBench(options, log))
    mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(resolve(ROOT, 'bench/results/identity-latest.json'), `${JSON.stringify({ machine: machine(), options, result }, null, 2)}\n`)
  }
  if (only.includes('metrics')) {
    const options = { ...METRICS_COST_DEFAULTS, devices: num('devices', METRICS_COST_DEFAULTS.devices, 1), rounds: num('metrics-rounds', METRICS_COST_DEFAULTS.rounds, 1), duration: num('twin-duration', METRICS_COST_DEFAULTS.duration, 1) }
    const result = await withWatchdog('metrics', metricsCostEstimateSeconds(options), () => runMetricsCostBench(options, log))
    mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(resolve(ROOT, 'bench/results/metrics-latest.json'), `${JSON.stringify({ machine: machine(), result }, null, 2)}\n`)
  }
  if (only.includes('scrapes')) {
    const options = { ...SCRAPES_DEFAULTS, devices: num('devices', SCRAPES_DEFAULTS.devices, 1), scrapes: num('scrapes', SCRAPES_DEFAULTS.scrapes, 1), bursts: num('scrape-bursts', SCRAPES_DEFAULTS.bursts, 1) }
    const result = await withWatchdog('scrapes', scrapesEstimateSeconds(options), () => runScrapesBench(options, log))
    mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(resolve(ROOT, 'bench/results/scrapes-latest.json'), `${JSON.stringify({ machine: machine(), result }, null, 2)}\n`)
  }
  if (only.includes('edged')) {
    const options = {
      pods: num('edged-pods', EDGED_DEFAULTS.pods, 1),
      scalePods: num('edged-scale-pods', EDGED_DEFAULTS.scalePods, 1),
      containers: num('edged-containers', EDGED_DEFAULTS.containers, 1),
    }
    const result = await withWatchdog('edged', edgedEstimateSeconds(options), () => runEdgedBench(options, log))
    mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(resolve(ROOT, 'bench/results/edged-latest.json'), `${JSON.stringify({ machine: machine(), result }, null, 2)}\n`)
  }
  if (only.includes('edged-extremes')) {
    const d = EDGED_EXTREMES_DEFAULTS
    const options = {
      ...d,
      configMapPods: num('extremes-configmap-pods', d.configMapPods, 1),
      configMapKiB: num('extremes-configmap-kib', d.configMapKiB, 4),
      secretPods: num('extremes-secret-pods', d.secretPods, 1),
      secretRate: num('extremes-secret-rate', d.secretRate, 1),
      secretSeconds: num('extremes-secret-seconds', d.secretSeconds, 1),
      burstPods: num('extremes-burst-pods', d.burstPods, 1),
      ...(values['cpu-prof'] === true ? { cpuProfDir: resolve(ROOT, '.tmp/bench-profiles') } : {}),
    }
    const result = await withWatchdog('edged-extremes', edgedExtremesEstimateSeconds(options), () => runEdgedExtremesBench(options, log))
    mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(resolve(ROOT, 'bench/results/edged-extremes-latest.json'), `${JSON.stringify({ machine: machine(), result }, null, 2)}\n`)
  }
  if (only.includes('streams')) {
    const options = { ...STREAMS_DEFAULTS, floodLines: num('streams-flood-lines', STREAMS_DEFAULTS.floodLines, 1000), execBytes: num('streams-exec-mb', STREAMS_DEFAULTS.execBytes / 1e6, 1) * 1e6 }
    const result = await withWatchdog('streams', streamsEstimateSeconds(options), () => runStreamsBench(options, log))
    mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(resolve(ROOT, 'bench/results/streams-latest.json'), `${JSON.stringify({ machine: machine(), options, result }, null, 2)}\n`)
  }
  if (only.includes('log-rotation')) {
    const result = await withWatchdog('log-rotation', logRotationEstimateSeconds(LOG_ROTATION_DEFAULTS), () => runLogRotationBench(LOG_ROTATION_DEFAULTS, log))
    mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(resolve(ROOT, 'bench/results/log-rotation-latest.json'), `${JSON.stringify({ machine: machine(), result }, null, 2)}\n`)
  }
  if (only.includes('web')) {
    const result = await withWatchdog('web', webAssetsEstimateSeconds(), () => runWebAssetsBench(log))
    mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(resolve(ROOT, 'bench/results/web-latest.json'), `${JSON.stringify({ machine: machine(), result }, null, 2)}\n`)
  }
}

const isTwinBenchMapper = (name: string): name is TwinBenchMapper => (TWIN_BENCH_MAPPERS as readonly string[]).includes(name)

function twinOptions(): TwinBenchOptions {
  const seconds = num('twin-duration', TWIN_DEFAULTS.duration, 1)
  const mapper = values['with-mapper']
  if (mapper !== undefined && !isTwinBenchMapper(mapper)) throw new Error(`--with-mapper: one of ${TWIN_BENCH_MAPPERS.join(', ')}, got ${mapper}`)
  const gatewayMemoryMiB = values['gateway-memory'] === undefined ? undefined : num('gateway-memory', 0, 64)
  const http = values.http === undefined ? TWIN_DEFAULTS.http : values.http === 'off' ? false : values.http === 'default' ? undefined : { listen: values.http }
  return { ...TWIN_DEFAULTS, devices: num('devices', TWIN_DEFAULTS.devices, 1), duration: seconds, latencyDuration: seconds, starts: num('starts', TWIN_DEFAULTS.starts, 1), mapper, gatewayMemoryMiB, http }
}

function cloudOptions(): CloudBenchOptions {
  const qps = values['cloud-qps']?.split(',').map(Number) ?? CLOUD_DEFAULTS.qps
  for (const q of qps) if (!Number.isFinite(q) || q <= 0) throw new Error(`--cloud-qps must be a list of numbers > 0, got ${String(values['cloud-qps'])}`)
  return {
    nodes: num('cloud-nodes', CLOUD_DEFAULTS.nodes, 1),
    devices: num('cloud-devices', CLOUD_DEFAULTS.devices, 1),
    namespaces: num('cloud-namespaces', CLOUD_DEFAULTS.namespaces, 1),
    rate: num('cloud-rate', CLOUD_DEFAULTS.rate, 0),
    warmup: num('cloud-warmup', CLOUD_DEFAULTS.warmup, 0),
    duration: num('cloud-duration', CLOUD_DEFAULTS.duration, 1),
    qps,
    burst: num('cloud-burst', CLOUD_DEFAULTS.burst, 1),
    resendMs: num('cloud-resend-ms', CLOUD_DEFAULTS.resendMs, 50),
    tls: values['cloud-plain-ws'] !== true,
    latencyRuns: num('cloud-latency-runs', CLOUD_DEFAULTS.latencyRuns, 0),
    skipScale: values['cloud-skip-scale'] === true,
  }
}

function workloadsOptions(): CloudWorkloadsOptions {
  const d = CLOUD_WORKLOADS_DEFAULTS
  return {
    ...d,
    nodes: num('workloads-nodes', d.nodes, 1),
    podsPerNode: num('workloads-pods', d.podsPerNode, 1),
    statusSeconds: num('workloads-status-seconds', d.statusSeconds, 1),
    warmup: num('workloads-warmup', d.warmup, 0),
    duration: num('workloads-duration', d.duration, 1),
    qps: num('workloads-qps', d.qps, 0.1),
    burst: num('workloads-burst', d.burst, 1),
    tls: values['cloud-plain-ws'] !== true,
  }
}

function machine(): Record<string, unknown> {
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, at: new Date().toISOString() }
}

/** Runs one bench, giving up (and stopping its processes) at twice its expected duration plus a minute. */
async function withWatchdog<T>(name: string, expectedSeconds: number, run: () => Promise<T>): Promise<T> {
  const limit = 2 * expectedSeconds + 60
  log(`${name}: about ${Math.round(expectedSeconds)} s (gives up after ${Math.round(limit)} s)`)
  const watchdog = setTimeout(() => abort(new Error(`the ${name} bench did not finish within ${Math.round(limit)} s`)), limit * 1000)
  try {
    return await run()
  } finally {
    clearTimeout(watchdog)
  }
}

function abort(reason: unknown): void {
  log(`stopping: ${reason instanceof Error ? reason.message : String(reason)}`)
  stopAllChildren().then(
    () => process.exit(1),
    () => process.exit(1),
  )
}

process.once('SIGINT', () => abort('SIGINT'))
process.once('SIGTERM', () => abort('SIGTERM'))
main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    abort(err)
  },
)
