#!/usr/bin/env bash
# Builds the production Nitro enclave image (EIF) without Docker, reproducibly, and prints
# its PCRs. Inputs:
#   ENCLAVE  the enclave executable from deploy/reproducible-build.sh (static, glibc)
#   BLOBS    the AWS Nitro Enclaves bootstrap blobs: bzImage, bzImage.config, cmdline,
#            init, nsm.ko (from the aws-nitro-enclaves-cli package on the build host:
#            /usr/share/nitro_enclaves/blobs, or built from aws-nitro-enclaves-sdk-bootstrap)
#   CID      the enclave CID the host launches it with (it is part of the measured
#            command line, so the same CID must go to `launch nitro-config`)
# Usage: ENCLAVE=... BLOBS=... [CID=16] [OUT=sealboost.eif] deploy/nitro/build-eif.sh
#
# Layout (what the bootstrap init expects; aws-nitro-enclaves-sdk-bootstrap init/init.c):
#   ramdisk 0 (bootstrap, PCR1 with kernel+cmdline): /init, /nsm.ko, /dev/console, dirs
#   ramdisk 1 (application, PCR2): /cmd and /env (one argv / env entry per line) and
#             /rootfs with the enclave binary; init reads cmd/env, chroots into /rootfs.
set -euo pipefail
: "${ENCLAVE:?path to sealboost-enclave}" "${BLOBS:?path to the Nitro bootstrap blobs}"
cid="${CID:-16}"
out="${OUT:-sealboost.eif}"
deploy="${DEPLOY:-sealboost-deploy}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-0}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$deploy" eif ramdisk --out "$work/bootstrap.cpio" \
  --file "init=$BLOBS/init:0755" --file "nsm.ko=$BLOBS/nsm.ko:0644" \
  --dir dev --dir proc --dir sys --dir tmp --dir run --dir rootfs \
  --chardev dev/console=5:1

"$deploy" eif ramdisk --out "$work/app.cpio" \
  --file "rootfs/sealboost-enclave=$ENCLAVE:0755" \
  --dir rootfs/dev --dir rootfs/proc --dir rootfs/sys --dir rootfs/tmp --dir rootfs/run \
  --line cmd=/sealboost-enclave --line cmd=--platform --line cmd=nitro \
  --line "cmd=--listen" --line "cmd=vsock:$cid:5000" \
  --line "cmd=--host" --line "cmd=vsock:3:6000" \
  --line env=PATH=/ --line env=SEALBOOST_LOG=info

"$deploy" eif build --kernel "$BLOBS/bzImage" --cmdline "$(tr -d '\n' < "$BLOBS/cmdline")" \
  --ramdisk "$work/bootstrap.cpio" --ramdisk "$work/app.cpio" \
  --name sealboost-enclave --out "$out"
