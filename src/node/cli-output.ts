/**
 * What the `ipc-channel` command prints: values as JSON lines (with a form for what JSON lacks), the
 * list of exposed functions, and errors with their class, code and causes.
 */
import type { MethodDescription } from '../protocol/introspection.js'

/**
 * A command-line argument as a value: JSON when it parses as JSON, otherwise the text itself, so that
 * `call demo greet world` passes the string "world" and `call demo add 1 2` two numbers.
 */
export function parseArgument(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

/** Replaces what JSON cannot say: binaries as `{ $binary: base64 }`, BigInts as strings, Maps and Sets as arrays. */
function replacer(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Map) return [...value]
  if (value instanceof Set) return [...value]
  if (ArrayBuffer.isView(value)) return { $binary: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') }
  if (value instanceof ArrayBuffer) return { $binary: Buffer.from(value).toString('base64') }
  if (value instanceof Error) return errorObject(value)
  return value
}

/** One value as one line of JSON (`null` for undefined, which JSON cannot write). */
export function jsonLine(value: unknown): string {
  // Buffer's toJSON runs before the replacer sees it: view it as a plain Uint8Array first.
  const plain = Buffer.isBuffer(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : value
  return JSON.stringify(plain, replacer) ?? 'null'
}

/** The exposed functions, one per line: the name, then its description after two spaces. */
export function formatDescriptions(descriptions: readonly MethodDescription[]): string {
  let text = ''
  for (const { name, description, stream } of descriptions) {
    text += name
    if (stream) text += ' (stream)'
    if (description !== undefined) text += `  ${description.replace(/\s*\n\s*/g, ' ')}`
    text += '\n'
  }
  return text
}

interface ErrorObject {
  name: string
  message: string
  code?: unknown
  cause?: unknown
}

function errorObject(error: Error): ErrorObject {
  const object: ErrorObject = { name: error.name, message: error.message }
  const { code, cause } = error as { code?: unknown; cause?: unknown }
  if (code !== undefined) object.code = code
  if (cause !== undefined) object.cause = cause instanceof Error ? errorObject(cause) : cause
  return object
}

/**
 * An error for stderr: `Class: message [code]`, then each cause on a line of its own; with `json`, the
 * same as one JSON object.
 */
export function describeError(error: unknown, json: boolean): string {
  if (!(error instanceof Error)) return json ? jsonLine({ error }) : String(error)
  if (json) return jsonLine({ error: errorObject(error) })
  let text = ''
  let current: unknown = error
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    if (depth > 0) text += '\n  caused by: '
    if (current instanceof Error) {
      const code = (current as { code?: unknown }).code
      // OpenSSL's messages end with a newline.
      text += `${current.name}: ${current.message.trimEnd()}${code === undefined ? '' : ` [${String(code)}]`}`
      current = current.cause
    } else {
      text += jsonLine(current)
      current = undefined
    }
  }
  return text
}
