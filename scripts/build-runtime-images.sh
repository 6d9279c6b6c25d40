#!/usr/bin/env bash
# Builds the images fcemu's built-in runtimes run on, from Debian packages (debootstrap + docker import, so
# no registry is needed), cached by tag:
#   fcemu-runtime-python:bookworm  Debian's python3
#   fcemu-runtime-nodejs:bookworm  Debian's nodejs
# fcemu mounts its own runtime and the function's code into them; they hold only the interpreter.
# (Where a registry can be reached, `fcemu up` builds them itself from debian:bookworm-slim.)
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_docker
bash scripts/build-debian-image.sh fcemu-runtime-python:bookworm python3
bash scripts/build-debian-image.sh fcemu-runtime-nodejs:bookworm nodejs
