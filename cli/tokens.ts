/**
 * `tern gettoken` and `tern revoke`: run where `tern cloud`'s config and cluster credentials are.
 * gettoken stores a join token (hashed) as a Secret and prints it with the fleet CA's pin and a
 * `tern join` line; revoke deletes a node's record and its Node, which ends its session on every
 * replica and refuses its certificates from then on.
 */
import { hostname } from 'node:os'
import pino from 'pino'
import { loadKubeConfig } from '../cloud-sync/cloud/kube-api.js'
import { recordName } from '../cloud-sync/identity/node-identities.js'
import { newToken, parseDuration, tokenSecret } from '../cloud-sync/identity/tokens.js'
import { isNodeName } from '../cloud-sync/link/protocol.js'
import { TernError } from '../schemas/tern-error.js'
import { openIdentityStore } from './cloud-identity.js'
import { loadCloudConfig } from './config.js'

export interface GetTokenArgs {
  config?: string
  kubeconfig?: string
  ttl?: string
  node?: string
  usages?: string
  cloud?: string
}

const quiet = pino({ level: 'warn' }, pino.destination(2))

export async function getToken(args: GetTokenArgs): Promise<string> {
  const ttlMs = parseDuration(args.ttl ?? '24h')
  if (ttlMs === undefined) throw new TernError('USAGE', `--ttl ${args.ttl ?? ''} is not a duration such as 24h, 90m or 1h30m`)
  if (args.node !== undefined && !isNodeName(args.node)) throw new TernError('USAGE', `--node ${args.node} is not a node name (a DNS-1123 subdomain)`)
  const usages = args.usages === undefined ? undefined : Number(args.usages)
  if (usages !== undefined && !(Number.isInteger(usages) && usages >= 1)) throw new TernError('USAGE', `--usages ${args.usages ?? ''} is not a whole number of at least 1`)
  const config = await loadCloudConfig(args.config)
  const kc = loadKubeConfig(args.kubeconfig ?? config.kube.kubeconfig)
  const store = await openIdentityStore(config, kc, quiet)
  const token = newToken()
  try {
    await store.api.createSecret(store.namespace, tokenSecret(token, store.namespace, { ttlMs, ...(args.node === undefined ? {} : { node: args.node }), ...(usages === undefined ? {} : { usages }) }, Date.now()))
  } catch (err) {
    throw new TernError('IDENTITY_STORE_FAILED', `cannot store the join token in namespace ${store.namespace}: ${(err as Error).message}`, { cause: err })
  }
  const pinned = `${token.id}.${token.secret}@${store.ca.pin}`
  const cloud = args.cloud ?? `wss://${config.hub.serverNames[0] ?? hostname()}:${config.hub.port}`
  const expires = new Date(Date.now() + ttlMs).toISOString()
  return [
    pinned,
    '',
    `valid until ${expires}${args.node === undefined ? '' : `, for node ${args.node} only`}${usages === undefined ? '' : `, ${usages} use${usages === 1 ? '' : 's'}`}. On the gateway:`,
    `  tern join --cloud ${cloud} --token ${pinned}${args.node === undefined ? '' : ` --node ${args.node}`}`,
  ].join('\n')
}

export async function revokeNode(args: { node: string; config?: string; kubeconfig?: string }): Promise<string> {
  if (!isNodeName(args.node)) throw new TernError('USAGE', `${args.node} is not a node name`)
  const config = await loadCloudConfig(args.config)
  const kc = loadKubeConfig(args.kubeconfig ?? config.kube.kubeconfig)
  const store = await openIdentityStore(config, kc, quiet)
  try {
    const record = await store.api.deleteSecret(store.namespace, recordName(args.node))
    const node = await store.api.deleteNode(args.node)
    if (!record && !node) return `node ${args.node} has no identity and no Node: nothing to revoke`
    return `node ${args.node} revoked: its certificates are refused from now on; it can join again only with a new token`
  } catch (err) {
    throw new TernError('IDENTITY_STORE_FAILED', `cannot revoke node ${args.node}: ${(err as Error).message}`, { cause: err })
  }
}
