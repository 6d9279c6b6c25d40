#!/bin/sh
# Makes FC's custom runtime paths in a Debian image: FC keeps each interpreter under /var/fc/lang/NAME, and
# the official s.yaml templates name those paths (PATH=/var/fc/lang/python3.10/bin:...). Here each of them
# leads to Debian's own interpreter, whatever its version; `fcemu up` says which version runs for which path.
# Run as root inside the image's root folder (chroot, or a Dockerfile's RUN).
set -eu
link() { # TARGET NAME...: each NAME a link to TARGET, where TARGET is in the image
  target="$1"; shift
  [ -e "$target" ] || return 0
  for name in "$@"; do
    mkdir -p "$(dirname "$name")"
    ln -sfn "$target" "$name"
  done
}
for v in python3.9 python3.10 python3.12; do
  link /usr/bin/python3 /var/fc/lang/$v/bin/python3 /var/fc/lang/$v/bin/python
  link /usr/bin/pip3 /var/fc/lang/$v/bin/pip3 /var/fc/lang/$v/bin/pip
done
for v in nodejs14 nodejs16 nodejs18 nodejs20; do
  link /usr/bin/node /var/fc/lang/$v/bin/node
  link /usr/bin/npm /var/fc/lang/$v/bin/npm
done
for v in java8 java11 java17; do
  link /usr/bin/java /var/fc/lang/$v/bin/java
done
for v in php7.4 php8.1; do
  link /usr/bin/php /var/fc/lang/$v/bin/php
done
# FC's custom runtimes answer `python` too.
link /usr/bin/python3 /usr/local/bin/python
