/**
 * A volume handed to the pod's fsGroup, as the kubelet's SetVolumeOwnership does
 * (pkg/volume/volume_linux.go): everything in it gets the group, files become group-readable (and
 * writable unless the volume is read-only: configMap and secret), and directories group-searchable
 * with setgid, so what the containers create there inherits the group. Symlinks get the group but
 * keep their mode; owners are left as they are.
 */
import { chmod, lchown, lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'

const RW_MASK = 0o660
const RO_MASK = 0o440
const EXEC_MASK = 0o110
const SETGID = 0o2000

export async function setVolumeOwnership(dir: string, fsGroup: number, readonly: boolean): Promise<void> {
  const info = await lstat(dir)
  await lchown(dir, info.uid, fsGroup)
  if (info.isSymbolicLink()) return
  let mask = readonly ? RO_MASK : RW_MASK
  if (info.isDirectory()) mask |= SETGID | EXEC_MASK
  await chmod(dir, (info.mode & 0o7777) | mask)
  if (!info.isDirectory()) return
  for (const entry of await readdir(dir)) await setVolumeOwnership(join(dir, entry), fsGroup, readonly)
}
