#!/usr/bin/env bash
# Builds a minimal Debian rootfs with extra packages and loads it as a Docker image (no registry needed).
# Usage: build-debian-image.sh TAG PACKAGE[,PACKAGE...] [SETUP_SCRIPT]
# SETUP_SCRIPT, when given, runs as root inside the rootfs (chroot) before it is loaded.
# The image is cached by TAG: an existing image is kept.
source "$(dirname "$0")/lib.sh"

tag="$1"
packages="$2"
setup="${3:-}"
if docker image inspect "$tag" >/dev/null 2>&1; then
  log "image $tag is already there"
  exit 0
fi
apt_install debootstrap
rootfs=$(mktemp -d /tmp/fcemu-rootfs.XXXXXX)
trap 'as_root rm -rf "$rootfs"' EXIT
log "debootstrap bookworm with $packages into $rootfs"
as_root debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$(debian_mirror)" >/tmp/fcemu-debootstrap.log 2>&1 \
  || { tail -20 /tmp/fcemu-debootstrap.log >&2; exit 1; }
if [ -n "$setup" ]; then
  log "running $(basename "$setup") in the rootfs"
  as_root cp "$setup" "$rootfs/tmp/setup.sh"
  as_root chroot "$rootfs" /bin/sh /tmp/setup.sh
  as_root rm -f "$rootfs/tmp/setup.sh"
fi
as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
log "docker import as $tag"
as_root tar -C "$rootfs" -c . | docker import - "$tag" >/dev/null
