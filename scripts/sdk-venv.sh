#!/usr/bin/env bash
# The official FC 3.0 Python SDK (alibabacloud-fc20230330) and the official MCP Python SDK (mcp), from PyPI,
# in a virtual environment of their own, made once: tests/trigger_auth.rs signs requests with the first and
# tests/sessions.rs drives the MCP example with the second, as a user's clients would. Prints its python.
source "$(dirname "$0")/lib.sh"
VENV="$ROOT/target/sdk-venv"
SDKS=("alibabacloud-fc20230330==4.8.3" "mcp==1.30.0")
if ! "$VENV/bin/python" -c 'import alibabacloud_fc20230330, mcp' 2>/dev/null; then
  python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet "${SDKS[@]}" >&2
fi
echo "$VENV/bin/python"
