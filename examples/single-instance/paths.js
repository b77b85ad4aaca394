// Where the helper of examples/single-instance is found: its ipcPath() name and its secret file, in a
// directory only this user can enter (the one ipcPath() uses on Unix; the temporary directory, which
// is per-user, on Windows). SINGLE_INSTANCE_NAME lets tests run apart from each other.
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { ipcPath } from 'ipc-channel'

export const SERVICE = process.env.SINGLE_INSTANCE_NAME ?? 'single-instance-demo'
const directory = process.platform === 'win32' ? tmpdir() : dirname(ipcPath(SERVICE))
export const SECRET_FILE = join(directory, `${SERVICE}.secret`)
