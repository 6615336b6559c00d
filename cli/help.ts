/**
 * What `tern help`, `tern COMMAND --help` and a usage error print. Its own module, loaded only to
 * print it: a running command has no use for the other commands' help.
 */

/** Each command's synopsis and what it does, printed by `tern <command> --help` and, all together, by `tern help`. */
export const HELP: Record<string, string> = {
  edge: `tern edge [--config FILE] [--data-dir DIR] [--mqtt-port N] [--http-listen HOST:PORT]
    start an edge node: the MQTT bus, the device twin and the enabled mappers.
    --config FILE    the node's YAML configuration (default: none, embedded defaults)
    --data-dir DIR   overrides dataDir of the config
    --mqtt-port N    overrides the port of the first mqtt listener
    --http-listen A  overrides http.listen, the metrics and health listener (default 127.0.0.1:9464)`,
  cloud: `tern cloud [--config FILE] [--kubeconfig FILE] [--hub-port N] [--http-listen HOST:PORT]
    the cloud side: Device/DeviceModel controllers on a Kubernetes cluster and CloudHub for edge nodes
    (needs the package @kubernetes/client-node).`,
  mapper: `tern mapper PROTOCOL --broker URL --node NAME [--username U --password-file F] [--data-dir DIR]
        [--layout name|namespace/name] [--heartbeat-ms N] [--log-level L]
    run one protocol's mapper (modbus, opcua, bluetooth, virtual) as its own process, over MQTT.
    --broker URL     mqtt://, mqtts://, ws://, wss:// (or tcp://, ssl://) and the broker's address`,
  demo: `tern demo [--mqtt-port N]
    an edge node named demo with a simulated Modbus TCP fan (device fan-1) served by the Modbus
    mapper; its broker listens on 127.0.0.1:N (default 1883). Prints how to watch and control it.`,
  passwd: `tern passwd [PASSWORD]
    print a password hash for mqtt.users (reads the password from stdin when not given).`,
  gettoken: `tern gettoken [--config FILE] [--kubeconfig FILE] [--ttl 24h] [--node NAME] [--usages N] [--cloud wss://HOST:PORT]
    print a join token for a new edge node and the tern join line to run on it; run where tern cloud's
    config and cluster credentials are (needs the package @kubernetes/client-node).
    --ttl D          how long the token is valid (24h, 90m, 1h30m; default 24h)
    --node NAME      the token joins only this node name
    --usages N       the token joins at most N nodes (default: any number within its TTL)
    --cloud URL      CloudHub's address as the nodes dial it, for the printed join line`,
  join: `tern join --cloud wss://HOST:PORT --token TOKEN [--node NAME] [--config FILE] [--pki-dir DIR]
    join this gateway to the fleet: checks the cloud's CA against the token's pin, makes the node's key
    here, gets its certificate, and writes the config's cloud: section.
    --node NAME      the node name (default: the host name)
    --config FILE    the edge config to write (default tern.yaml; other keys in it are kept)
    --pki-dir DIR    where key and certificates go (default: pki/ beside the config)`,
  revoke: `tern revoke NAME [--config FILE] [--kubeconfig FILE]
    revoke a node: its session is closed, its certificates refused, its Node deleted (where tern cloud's config is).`,
  pods: `tern pods [--config FILE] [--data-dir DIR] [-o wide|json]
    list this node's pods as kubectl get pods does (NAMESPACE NAME READY STATUS RESTARTS AGE; -o wide
    adds IP and NODE, -o json prints edged's snapshot). Works with tern edge stopped.`,
  logs: `tern logs POD [-n NAMESPACE] [-c CONTAINER] [-f] [--tail N] [--previous] [--config FILE] [--data-dir DIR]
    print a pod's container log from the files on this node (works with tern edge stopped).
    -n NAMESPACE     the pod's namespace (default: default)
    -c CONTAINER     the container (default: the pod's first)
    -f, --follow     keep printing new lines, on into the next container when it restarts
    --tail N         only the last N lines
    --previous       the log of the container before the last restart`,
  reset: `tern reset [--config FILE] [--yes]
    remove this gateway's key, certificates and cloud: section; with --yes (or when answered yes) also its data directory.`,
}

export const USAGE = `usage:
${Object.values(HELP)
  .map((h) => `  ${h.split('\n')[0]}`)
  .join('\n')}
  tern help [COMMAND] | tern COMMAND --help
  tern --version`
