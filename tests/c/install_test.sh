#!/usr/bin/env bash
# `make install` into a temporary prefix, then build tests/c/install_smoke.c the way a user
# would, through `pkg-config --cflags --libs wspsan`, against the shared and the static library.
# Without pkg-config on the machine the same flags are read from the installed wspsan.pc with
# sed (a fallback, said so on the output).
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=${CC:-cc}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make --no-print-directory install PREFIX="$prefix" INSTALL_PROFILE=debug >/dev/null
pc_dir="$prefix/lib/pkgconfig"
for f in lib/libwspsan.a lib/libwspsan.so include/wspsan.h lib/pkgconfig/wspsan.pc; do
    [ -f "$prefix/$f" ] || { echo "error: make install did not install $f"; exit 1; }
done

pc_field() { # the value of a field of wspsan.pc with its variables expanded
    local vars value
    vars=$(sed -n 's/^\([a-z]*\)=\(.*\)$/\1 \2/p' "$pc_dir/wspsan.pc")
    value=$(sed -n "s/^$1: *//p" "$pc_dir/wspsan.pc")
    while read -r name val; do value=${value//\$\{$name\}/$val}; done <<< "$vars"
    while read -r name val; do value=${value//\$\{$name\}/$val}; done <<< "$vars"
    echo "$value"
}

if command -v pkg-config >/dev/null; then
    flags=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs wspsan)
    private=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --static --libs-only-l wspsan | sed 's/-lwspsan//')
else
    echo "pkg-config not found: reading $pc_dir/wspsan.pc with sed instead"
    flags="$(pc_field Cflags) $(pc_field Libs)"
    private=$(pc_field Libs.private)
fi
echo "wspsan flags: $flags"
$CC -std=c11 -Wall -Wextra -Werror -pedantic tests/c/install_smoke.c $flags -o "$prefix/smoke_shared"
LD_LIBRARY_PATH="$prefix/lib" "$prefix/smoke_shared"
$CC -std=c11 -Wall -Wextra -Werror -pedantic tests/c/install_smoke.c -I"$prefix/include" \
    "$prefix/lib/libwspsan.a" $private -o "$prefix/smoke_static"
"$prefix/smoke_static"
