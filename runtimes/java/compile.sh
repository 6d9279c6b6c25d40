#!/bin/sh
# Compiles fcemu's Java runtime from SRC (this folder) into OUT, with the JDK and Debian's Jackson and Servlet
# API of the image it runs in (fcemu runs it once per runtime content, in fcemu-runtime-java:bookworm):
#   OUT/classes   the runtime (fcemu.runtime.Bootstrap), on the runtime's own class path
#   OUT/lib       Debian's Jackson, for the runtime alone
#   OUT/fc        fc-java-core's interfaces and the Servlet API, after the function's code in its class loader
#   OUT/servlet   the body streams of FC 2.0's HTTP handlers, loaded beside the function's code
# Java 8's class files, so an image with any JDK from 8 on runs them.
set -eu
SRC="$1"
OUT="$2"
java=/usr/share/java
release="--release 8"
javac $release -version >/dev/null 2>&1 || release="-source 8 -target 8"
mkdir -p "$OUT/classes" "$OUT/lib" "$OUT/fc" "$OUT/servlet"
cp "$java/jackson-core.jar" "$java/jackson-databind.jar" "$java/jackson-annotations.jar" "$OUT/lib/"
(cd "$OUT/fc" && jar xf "$java/servlet-api.jar" javax && rm -rf META-INF)
# shellcheck disable=SC2046,SC2086
javac $release -nowarn -encoding UTF-8 -cp "$OUT/fc" -d "$OUT/fc" $(find "$SRC/fc" -name '*.java')
# shellcheck disable=SC2046,SC2086
javac $release -nowarn -encoding UTF-8 -cp "$OUT/fc" -d "$OUT/servlet" $(find "$SRC/servlet" -name '*.java')
# shellcheck disable=SC2046,SC2086
javac $release -nowarn -encoding UTF-8 -cp "$OUT/lib/*" -d "$OUT/classes" $(find "$SRC/src" -name '*.java')
