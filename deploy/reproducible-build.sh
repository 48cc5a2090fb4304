#!/usr/bin/env bash
# Reproducible enclave build check (issue 7, DESIGN §9).
#
# Builds `sealboost-enclave` twice, from two separate clones of the same commit in two
# different directories, and compares the SHA-256 of the two executables. The build is
# the release build operators ship:
#
#   cargo build --release --locked -p enclave --target x86_64-unknown-linux-gnu
#   RUSTFLAGS: -C target-feature=+crt-static   (statically linked against glibc; musl's
#                                               std cannot be installed here, see
#                                               docs/OPERATIONS.md "Reproducible builds")
#              --remap-path-prefix <clone>=/build, <CARGO_HOME>=/cargo
#   CFLAGS/CXXFLAGS: -ffile-prefix-map for the same two prefixes (aws-lc's C code)
#   SOURCE_DATE_EPOCH = commit time, CARGO_INCREMENTAL=0, TZ=UTC, LC_ALL=C, umask 022
#
# Usage: deploy/reproducible-build.sh [REV]       (default HEAD; uncommitted changes are
#        DIRTY=1 deploy/reproducible-build.sh     NOT built, unless DIRTY=1 copies the
#                                                 working tree's tracked + untracked files)
# Env:   REPRO_WORK=DIR   where the clones go (default: a new /tmp/sealboost-repro.XXXX)
#        KEEP=1           keep the clones afterwards
# Exit:  0 bit-identical, 1 different (a section-by-section report is printed), 2 error.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(git -C "$here" rev-parse --show-toplevel)"
rev="${1:-HEAD}"
commit="$(git -C "$repo" rev-parse --verify "$rev^{commit}")"
target=x86_64-unknown-linux-gnu
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
work="${REPRO_WORK:-$(mktemp -d /tmp/sealboost-repro.XXXXXX)}"
mkdir -p "$work"
cleanup() { if [ "${KEEP:-0}" != 1 ]; then rm -rf "$work/a" "$work/bb"; fi; }
trap cleanup EXIT

echo "== commit $commit"
echo "== $(rustc --version) / $(cargo --version)"
if [ "${DIRTY:-0}" != 1 ] && [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  echo "!! the working tree has uncommitted changes; building $commit only (DIRTY=1 to include them)"
fi
epoch="$(git -C "$repo" log -1 --format=%ct "$commit")"

# Two different paths, deliberately of different lengths.
dirs=("$work/a" "$work/bb")
for d in "${dirs[@]}"; do
  rm -rf "$d"
  if [ "${DIRTY:-0}" = 1 ]; then
    mkdir -p "$d"
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
      (cd "$repo" && tar --null -T - -cf -) | tar -C "$d" -xf -
  else
    git clone --quiet --no-hardlinks "$repo" "$d"
    git -C "$d" checkout --quiet --detach "$commit"
  fi
done

build() {
  local d="$1"
  local remap="--remap-path-prefix=$d=/build --remap-path-prefix=$cargo_home=/cargo"
  local cremap="-ffile-prefix-map=$d=/build -ffile-prefix-map=$cargo_home=/cargo"
  echo "== building in $d"
  (
    cd "$d"
    umask 022
    env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS -u CARGO_TARGET_DIR \
      TZ=UTC LC_ALL=C SOURCE_DATE_EPOCH="$epoch" CARGO_INCREMENTAL=0 \
      RUSTFLAGS="-C target-feature=+crt-static $remap" \
      CFLAGS="$cremap" CXXFLAGS="$cremap" \
      cargo build --release --locked -p enclave --target "$target" --quiet
  )
}

start=$(date +%s)
for d in "${dirs[@]}"; do build "$d"; done
echo "== both builds took $(( $(date +%s) - start )) s"

a="${dirs[0]}/target/$target/release/sealboost-enclave"
b="${dirs[1]}/target/$target/release/sealboost-enclave"
ha="$(sha256sum "$a" | cut -d' ' -f1)"
hb="$(sha256sum "$b" | cut -d' ' -f1)"
echo "sha256 $ha  $a"
echo "sha256 $hb  $b"
file "$a" 2>/dev/null || true

if [ "$ha" = "$hb" ]; then
  echo "== REPRODUCIBLE: bit-identical"
  cp "$a" "$work/sealboost-enclave"
  echo "== copy kept at $work/sealboost-enclave"
  exit 0
fi

echo "== DIFFERENT: $(cmp -l "$a" "$b" | wc -l) bytes differ; sizes $(stat -c %s "$a") vs $(stat -c %s "$b")"
echo "-- build paths left in the binaries (should be 0 after remapping):"
for x in "$a" "$b"; do
  printf '   %s: %s=%s %s=%s\n' "$x" "${dirs[0]}" "$(grep -c -a -F "${dirs[0]}" "$x" || true)" \
    "${dirs[1]}" "$(grep -c -a -F "${dirs[1]}" "$x" || true)"
done
echo "-- sections that differ:"
readelf -SW "$a" | awk '/^ *\[ *[0-9]+\]/ { sub(/^ *\[ *[0-9]+\] */, ""); print $1 }' |
  while read -r sec; do
    [ -z "$sec" ] && continue
    rm -f "$work/sec.a" "$work/sec.b"
    objcopy --dump-section "$sec=$work/sec.a" "$a" "$work/discard" 2>/dev/null || true
    objcopy --dump-section "$sec=$work/sec.b" "$b" "$work/discard" 2>/dev/null || true
    if ! cmp -s "$work/sec.a" "$work/sec.b"; then
      echo "   $sec ($(cmp -l "$work/sec.a" "$work/sec.b" 2>/dev/null | wc -l) bytes)"
    fi
  done
exit 1
