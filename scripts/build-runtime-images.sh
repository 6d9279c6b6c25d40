#!/usr/bin/env bash
# Builds the images fcemu's built-in runtimes run on, from Debian packages (debootstrap + docker import, so
# no registry is needed), cached by tag:
#   fcemu-runtime-python:bookworm  Debian's python3
#   fcemu-runtime-nodejs:bookworm  Debian's nodejs
#   fcemu-runtime-go:bookworm      Debian's python3 (fcemu's Go runtime serves FC's runtime API on it), TLS
#                                  roots and time zones, for the function's own executable
#   fcemu-runtime-php:bookworm     Debian's php-cli, with TLS roots for the function's own HTTPS calls
#   fcemu-runtime-java:bookworm    Debian's OpenJDK 17 (a JDK: fcemu compiles its Java runtime in it), with
#                                  the Jackson and Servlet API that runtime uses
#   fcemu-runtime-custom:bookworm  FC's custom runtime environment (custom, custom.debian10/11/12): Python
#                                  with pip, Node.js, Java, PHP, curl, at FC's /var/fc/lang paths
# fcemu mounts its own runtime and the function's code into them; they hold only the interpreter.
# (Where a registry can be reached, `fcemu up` builds them itself from debian:bookworm-slim.)
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_docker
bash scripts/build-debian-image.sh fcemu-runtime-python:bookworm python3
bash scripts/build-debian-image.sh fcemu-runtime-nodejs:bookworm nodejs
bash scripts/build-debian-image.sh fcemu-runtime-go:bookworm "python3 ca-certificates tzdata"
bash scripts/build-debian-image.sh fcemu-runtime-php:bookworm "php-cli ca-certificates"
bash scripts/build-debian-image.sh fcemu-runtime-java:bookworm \
  "openjdk-17-jdk-headless,libjackson2-databind-java,libservlet-api-java,ca-certificates"
bash scripts/build-debian-image.sh fcemu-runtime-custom:bookworm "$(cat runtimes/custom/packages)" runtimes/custom/fc-paths.sh
