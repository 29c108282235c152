#!/usr/bin/env bash
# `make install` as a user and a packager run it, then `make uninstall`:
#   1. a staged install (DESTDIR=<scratch> PREFIX=/opt/wspsan): exactly the expected files, the
#      .pc files naming /opt/wspsan and never the staging directory, symlinks relative;
#   2. an install into a scratch PREFIX: the SONAME, the stripped library and its debug file;
#      tests/c/install_smoke.c built the way the README says, through pkg-config:
#        shared: cc app.c $(pkg-config --cflags --libs wspsan) -Wl,-rpath,$(pkg-config --variable=libdir wspsan)
#                run with no LD_LIBRARY_PATH; ldd shows libwspsan.so.SOVER from the prefix;
#        static: cc app.c $(pkg-config --cflags --libs wspsan-static)
#                ldd shows nothing of wspsan loaded at run time;
#      and every installed include/wspsan/*.h compiles on its own;
#   3. `make uninstall` for both: no file or symlink left.
# INSTALL_PROFILE (default release, what users install) picks the cargo profile.
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=${CC:-cc}
MAKE=${MAKE:-make}
profile=${INSTALL_PROFILE:-release}
for tool in pkg-config readelf ldd; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found (Debian: apt install pkg-config binutils libc-bin)"; exit 1; }
done
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "error: install test: $*"; exit 1; }
# Whether a command's output contains a pattern. Not `cmd | grep -q`: grep -q exits at the first
# match, and under pipefail the writer's SIGPIPE would fail the pipeline.
has() { local out; out=$("${@:2}"); grep -q -- "$1" <<< "$out"; }

version=$(sed -n 's/^#define WSPSAN_VERSION_STRING "\(.*\)"/\1/p' include/wspsan.h)
IFS=. read -r major minor _ <<< "$version"
if [ "$major" != 0 ]; then sover=$major; elif [ "$minor" != 0 ]; then sover=0.$minor; else sover=$version; fi
headers="include/wspsan.h"
for h in include/wspsan/*.h; do [ -e "$h" ] && headers="$headers $h"; done

# The files and symlinks (with their targets) under a directory, one a line, sorted.
listing() { (cd "$1" && find . \( -type f -printf '%P\n' \) -o \( -type l -printf '%P -> %l\n' \) | sort); }

# 1. staged
stage=$scratch/stage
$MAKE --no-print-directory install DESTDIR="$stage" PREFIX=/opt/wspsan INSTALL_PROFILE="$profile" >/dev/null
expected=$( {
    echo "opt/wspsan/lib/libwspsan.so.$version"
    echo "opt/wspsan/lib/libwspsan.so.$sover -> libwspsan.so.$version"
    echo "opt/wspsan/lib/libwspsan.so -> libwspsan.so.$sover"
    echo "opt/wspsan/lib/libwspsan.a"
    echo "opt/wspsan/lib/.debug/libwspsan.so.$version.debug"
    echo "opt/wspsan/lib/pkgconfig/wspsan.pc"
    echo "opt/wspsan/lib/pkgconfig/wspsan-static.pc"
    for h in $headers; do echo "opt/wspsan/$h"; done
} | sort)
actual=$(listing "$stage")
[ "$actual" = "$expected" ] || fail "the staged install differs from the expected files (< expected, > installed):
$(diff <(echo "$expected") <(echo "$actual") || true)"
grep -q '^prefix=/opt/wspsan$' "$stage/opt/wspsan/lib/pkgconfig/wspsan.pc" || fail "wspsan.pc does not say prefix=/opt/wspsan"
! grep -rq "$stage" "$stage/opt/wspsan/lib/pkgconfig" || fail "a .pc file names the DESTDIR staging directory"
$MAKE --no-print-directory uninstall DESTDIR="$stage" PREFIX=/opt/wspsan >/dev/null
left=$(listing "$stage")
[ -z "$left" ] || fail "make uninstall (DESTDIR) left: $left"
echo "staged install (DESTDIR, PREFIX=/opt/wspsan): $(echo "$expected" | wc -l) files and links as expected; uninstall left none"

# 2. into a prefix
prefix=$scratch/prefix
$MAKE --no-print-directory install PREFIX="$prefix" INSTALL_PROFILE="$profile" >/dev/null
lib=$prefix/lib
soname=$(readelf -d "$lib/libwspsan.so.$version" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libwspsan.so.$sover" ] || fail "SONAME is '$soname', expected libwspsan.so.$sover"
[ "$(readlink "$lib/libwspsan.so.$sover")" = "libwspsan.so.$version" ] || fail "libwspsan.so.$sover is not a link to libwspsan.so.$version"
[ "$(readlink "$lib/libwspsan.so")" = "libwspsan.so.$sover" ] || fail "libwspsan.so is not a link to libwspsan.so.$sover"
! has '\.debug_info' readelf -S "$lib/libwspsan.so.$version" || fail "the installed libwspsan.so.$version is not stripped"
has '\.gnu_debuglink' readelf -S "$lib/libwspsan.so.$version" || fail "libwspsan.so.$version has no .gnu_debuglink"
has '\.debug_info' readelf -S "$lib/.debug/libwspsan.so.$version.debug" || fail "the .debug file holds no debug info"
echo "installed: SONAME $soname; sizes: $(cd "$lib" && ls -l libwspsan.a "libwspsan.so.$version" ".debug/libwspsan.so.$version.debug" \
    | awk '{ printf "%s %.1f MB; ", $NF, $5 / 1e6 }')"

export PKG_CONFIG_PATH=$lib/pkgconfig
unset LD_LIBRARY_PATH
[ "$(pkg-config --modversion wspsan)" = "$version" ] || fail "pkg-config --modversion wspsan is not $version"
case " $(pkg-config --static --libs wspsan) " in
    *" -lwspsan -lpthread -ldl -lm -lrt "*) ;;
    *) fail "pkg-config --static --libs wspsan lacks Libs.private: $(pkg-config --static --libs wspsan)";;
esac
std="-std=c11 -Wall -Wextra -Werror -pedantic"

# The README's shared-library line, word for word.
# shellcheck disable=SC2046
$CC $std tests/c/install_smoke.c $(pkg-config --cflags --libs wspsan) -Wl,-rpath,$(pkg-config --variable=libdir wspsan) \
    -o "$scratch/smoke_shared"
has "NEEDED.*\[libwspsan.so.$sover\]" readelf -d "$scratch/smoke_shared" || fail "smoke_shared does not need libwspsan.so.$sover"
has "libwspsan.so.$sover => $lib/libwspsan.so.$sover " ldd "$scratch/smoke_shared" \
    || fail "smoke_shared does not load $lib/libwspsan.so.$sover: $(ldd "$scratch/smoke_shared")"
"$scratch/smoke_shared"

# The README's static line, word for word.
# shellcheck disable=SC2046
$CC $std tests/c/install_smoke.c $(pkg-config --cflags --libs wspsan-static) -o "$scratch/smoke_static"
! has wspsan ldd "$scratch/smoke_static" || fail "smoke_static loads wspsan at run time: $(ldd "$scratch/smoke_static")"
"$scratch/smoke_static"

for h in "$prefix"/include/wspsan/*.h; do
    [ -e "$h" ] || continue
    echo "#include <wspsan/${h##*/}>" | $CC $std $(pkg-config --cflags wspsan) -x c -fsyntax-only - \
        || fail "the installed wspsan/${h##*/} does not compile on its own"
done

# 3. uninstall
$MAKE --no-print-directory uninstall PREFIX="$prefix" >/dev/null
left=$(listing "$prefix")
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install test: OK (staged install; shared and static programs against the prefix install; uninstall left nothing)"
