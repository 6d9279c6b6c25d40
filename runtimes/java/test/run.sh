#!/bin/sh
# The Java runtime's tests (RuntimeTest.java), on the JDK of the image they run in: compiles the runtime as
# fcemu does (compile.sh), the test handlers twice (with their own copy of fc-java-core's interfaces and the
# Servlet API, as a fat jar has them; and alone, as code that declared fc-java-core `provided`), and runs them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
runtime=$(dirname "$here")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sh "$runtime/compile.sh" "$runtime" "$work/runtime"
mkdir -p "$work/code/lib" "$work/bare" "$work/test"
# shellcheck disable=SC2046
javac --release 8 -nowarn -encoding UTF-8 -cp "$work/runtime/fc" -d "$work/code" \
  $(find "$runtime/fc" "$here/handlers" -name '*.java')
cp /usr/share/java/servlet-api.jar "$work/code/lib/"
# shellcheck disable=SC2046
javac --release 8 -nowarn -encoding UTF-8 -cp "$work/runtime/fc" -d "$work/bare" $(find "$here/handlers" -name '*.java')
javac -encoding UTF-8 -d "$work/test" "$here/RuntimeTest.java"
java -cp "$work/test" RuntimeTest "$work/runtime" "$work/code" "$work/bare"
