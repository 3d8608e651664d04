#!/usr/bin/env bash
# Fails when an #include goes against the layering the README's "Source layout" states.
#
#   tools/check-layers.sh [ROOT]      (make test runs it; ROOT defaults to the repository)
#
# The order is read from the README's `server/` row, so the table and the check cannot drift:
# the backticked folders before "beside them" are the core layers from the edge inwards, each
# of which may include only itself and those to its right; the ones after it are the side
# libraries, which every layer may include and which include only each other. Also checked:
#   - server/main.c may include anything (it wires the layers together);
#   - the SDK (include/switchboard/) includes only its own headers and the C library;
#   - a plugin includes its own folder, plugins/common/ and the SDK, never server/;
#   - each third-party library is reached from one folder only (libwebsockets from net/,
#     hiredis from bus/, LuaJIT from lua/), so no layer grows a second door to it;
#   - only net/ itself includes net/internal.h, and inside net/ a file calls only the files
#     drawn below it in that header (tools/check-net-order.py).
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

row=$(grep -m1 '^| `server/` |' README.md || true)
if [[ -z $row ]]; then
    echo "check-layers: README.md has no \`server/\` row in its source layout" >&2
    exit 2
fi
core_text=${row%%beside them*}
side_text=${row#*beside them}
mapfile -t layers < <(grep -o '`[a-z_]*`' <<<"${core_text#*| \`server/\` |}" | tr -d '`')
mapfile -t sides < <(grep -o '`[a-z_]*`' <<<"$side_text" | tr -d '`')
if ((${#layers[@]} < 3 || ${#sides[@]} < 1)); then
    echo "check-layers: cannot read the layer order from README.md's \`server/\` row" >&2
    exit 2
fi

declare -A rank side
for i in "${!layers[@]}"; do rank[${layers[$i]}]=$i; done
for s in "${sides[@]}"; do side[$s]=1; done

bad=0
fail() {
    echo "check-layers: $1" >&2
    bad=1
}

# Every folder of server/ must be named in the row, or nobody knows where it sits.
for d in server/*/; do
    d=${d#server/}
    d=${d%/}
    [[ -n ${rank[$d]+x} || -n ${side[$d]+x} ]] || fail "server/$d/ is not in README.md's layer order"
done

# "file:line:#include ..." for every quoted include under a tree.
includes() { grep -rnoE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"][^>"]+[>"]' "$@" --include='*.c' --include='*.h' || true; }

while IFS= read -r hit; do
    file=${hit%%:*}
    inc=${hit##*include}
    inc=${inc//[[:space:]]/}
    dir=${file#server/}
    dir=${dir%%/*}
    [[ $file == server/main.c ]] && continue
    case $inc in
    \<libwebsockets* | \<lws_*) lib=net ;;
    \<hiredis/*) lib=bus ;;
    \<lua.h\> | \<lualib.h\> | \<lauxlib.h\> | \<luajit*) lib=lua ;;
    *) lib= ;;
    esac
    if [[ -n $lib && $dir != "$lib" ]]; then
        fail "$file includes $inc, which only server/$lib/ may use"
        continue
    fi
    [[ $inc == \"* ]] || continue
    target=${inc//\"/}
    if [[ $target != ../* ]]; then
        continue # the folder's own header
    fi
    tdir=${target#../}
    tdir=${tdir%%/*}
    if [[ -n ${side[$dir]+x} ]]; then
        [[ -n ${side[$tdir]+x} ]] || fail "$file (side library $dir) includes $target, a core layer"
        continue
    fi
    [[ -n ${side[$tdir]+x} ]] && continue
    if [[ -z ${rank[$tdir]+x} ]]; then
        fail "$file includes $target, outside the layers"
    elif ((rank[$tdir] < rank[$dir])); then
        fail "$file ($dir) includes $target, which sits above it (order: ${layers[*]})"
    fi
done < <(includes server)

while IFS= read -r hit; do
    file=${hit%%:*}
    inc=${hit##*include}
    inc=${inc//[[:space:]]/}
    [[ $inc == \"*/* ]] && fail "$file (SDK) includes $inc: the SDK uses its own headers and the C library only"
done < <(includes include)

while IFS= read -r hit; do
    file=${hit%%:*}
    inc=${hit##*include}
    inc=${inc//[[:space:]]/}
    [[ $inc == \"* ]] || continue
    target=${inc//\"/}
    case $target in
    ../common/* | */* | ../*) ;;
    *) continue ;; # its own folder
    esac
    [[ $target == ../common/* ]] || fail "$file includes $target: a plugin uses its folder, plugins/common/ and the SDK"
done < <(includes plugins)

while IFS= read -r hit; do
    file=${hit%%:*}
    [[ $file == server/net/* ]] || fail "$file includes net/internal.h: outside server/net, net.h is the door"
done < <(grep -rn --include='*.[ch]' -E '#[[:space:]]*include[[:space:]]*"[^"]*net/internal\.h"' server tests plugins || true)
python3 tools/check-net-order.py "$root" || bad=1

if ((bad)); then
    echo "check-layers: see README.md, Source layout, and docs/architecture.md" >&2
    exit 1
fi
echo "check-layers: ${#layers[@]} layers (${layers[*]}), side libraries (${sides[*]}): ok"
