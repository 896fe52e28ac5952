#!/usr/bin/env bash
# The ZeroMQ test's peer: a real libzmq subscriber through pyzmq (tests/zmq.rs looks for a
# Python with `zmq` as `python3`, then /usr/bin/python3).
set -euo pipefail
for py in python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null && "$py" -c 'import zmq' 2>/dev/null; then
    exit 0
  fi
done
export DEBIAN_FRONTEND=noninteractive
apt-get install -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends python3 python3-zmq >/dev/null
/usr/bin/python3 -c 'import zmq; print("pyzmq", zmq.__version__, "libzmq", zmq.zmq_version())'
