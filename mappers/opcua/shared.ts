/**
 * What an OPC-UA protocol keeps across its drivers — the runtime makes a fresh driver after every
 * lost link, so anything that must survive a reconnect lives here: node-opcua itself (loaded on
 * first use: `tern edge` without OPC-UA devices never pays for it), one certificate manager per
 * PKI folder, and per-server caches of node data types and resolved browse paths.
 */
import { join } from 'node:path'
import type { OPCUACertificateManager } from 'node-opcua'

export type OpcuaModule = typeof import('node-opcua')

export class OpcuaShared {
  /** `<url>|<nodeId>` → built-in data type of the node's Value (for writes) */
  readonly dataTypes = new Map<string, number>()
  /** `<url>|<browse path>` → node id */
  readonly browsed = new Map<string, string>()
  /** servers whose certificates acceptUnknownServerCertificate already trusted (no GetEndpoints probe on reconnect) */
  readonly accepted = new Set<string>()
  readonly #pkis = new Map<string, Promise<OPCUACertificateManager>>()
  #module: Promise<OpcuaModule> | undefined

  module(): Promise<OpcuaModule> {
    this.#module ??= import('node-opcua')
    return this.#module
  }

  /** The node's PKI, `<dataDir>/opcua/pki` (own certificate, trusted/, rejected/, issuers/). */
  pki(dataDir: string): Promise<OPCUACertificateManager> {
    const root = join(dataDir, 'opcua', 'pki')
    let pki = this.#pkis.get(root)
    if (pki === undefined) {
      pki = this.#createPki(root)
      this.#pkis.set(root, pki)
      // a failed initialisation is tried again by the next connect
      pki.catch(() => this.#pkis.delete(root))
    }
    return pki
  }

  async #createPki(rootFolder: string): Promise<OPCUACertificateManager> {
    const m = await this.module()
    // Unknown server certificates are refused (and filed under rejected/); a device with
    // acceptUnknownServerCertificate trusts its server's certificate explicitly (session.ts).
    const manager = new m.OPCUACertificateManager({ rootFolder, automaticallyAcceptUnknownCertificate: false })
    await manager.initialize()
    return manager
  }

  async close(): Promise<void> {
    const pkis = [...this.#pkis.values()]
    this.#pkis.clear()
    for (const pki of pkis) {
      try {
        await (await pki).dispose()
      } catch {
        // never initialised: nothing to release
      }
    }
  }
}
