/**
 * prom-client's own modules, imported one by one: its index also loads the cluster aggregator,
 * the push gateway (http/https) and the default process metrics, ~11 MiB of RSS more on an edge
 * node that uses none of them (metrics/prom.ts). The types are the package's own.
 */
declare module 'prom-client/lib/registry.js' {
  import { Registry } from 'prom-client'
  export default Registry
}
declare module 'prom-client/lib/counter.js' {
  import { Counter } from 'prom-client'
  export default Counter
}
declare module 'prom-client/lib/gauge.js' {
  import { Gauge } from 'prom-client'
  export default Gauge
}
declare module 'prom-client/lib/histogram.js' {
  import { Histogram } from 'prom-client'
  export default Histogram
}
