/** edged's directory (pod logs, volumes, pods.json): `edged.rootDir`, else `<dataDir>/edged`. Shared by tern edge and the commands that read it while tern edge is stopped. */
import { join, resolve } from 'node:path'

export function edgedRootDir(rootDir: string | undefined, dataDir: string): string {
  return resolve(rootDir ?? join(dataDir, 'edged'))
}
