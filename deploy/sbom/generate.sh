#!/usr/bin/env bash
# CycloneDX SBOM of the enclave (what runs inside the TEE), from Cargo.lock.
#
# Usage: deploy/sbom/generate.sh [OUT_DIR]      (default: deploy/sbom)
# Needs: cargo install --locked cargo-cyclonedx   (from crates.io)
#
# cargo-cyclonedx writes its output next to each Cargo.toml, so it runs on a copy of the
# tree (tracked + untracked, not ignored files) and only the enclave's SBOM is copied out.
# SOURCE_DATE_EPOCH is the commit time, so the same commit gives the same SBOM bytes
# apart from the random serial number CycloneDX requires.
set -euo pipefail
repo="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
out="${1:-$repo/deploy/sbom}"
mkdir -p "$out"
tmp="$(mktemp -d /tmp/sealboost-sbom.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
(cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
  (cd "$repo" && tar --null -T - -cf -) | tar -C "$tmp" -xf -
export SOURCE_DATE_EPOCH="$(git -C "$repo" log -1 --format=%ct)"
cd "$tmp/enclave"
cargo cyclonedx --format json --spec-version 1.5 \
  --target x86_64-unknown-linux-gnu --describe binaries --no-build-deps -q
found=0
while IFS= read -r -d '' f; do
  cp "$f" "$out/sealboost-enclave.cdx.json"
  found=1
  echo "$out/sealboost-enclave.cdx.json: $(stat -c %s "$f") bytes, $(grep -c '"purl"' "$f") purls"
done < <(find "$tmp/enclave" -maxdepth 1 -name '*.cdx.json' -print0)
[ "$found" = 1 ] || { echo "no SBOM produced" >&2; exit 1; }
