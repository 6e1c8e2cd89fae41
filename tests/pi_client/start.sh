#!/bin/bash
# A stand-in of the users' start_pi.sh: a UTF-8 locale, the venv, a wait for the card reader,
# then the client, exec'd in this very process (same PID, as the users' script does).
#
#   PI_CLIENT_VENV         the venv to activate (default: ./venv)
#   PI_CLIENT_READER_WAIT  seconds to wait for the card reader (default 0.5; the users' script
#                          waits up to 30)
set -e
export LANG=C.UTF-8 LC_ALL=C.UTF-8
cd "$(dirname "$0")"
# shellcheck disable=SC1091
source "${PI_CLIENT_VENV:-venv}/bin/activate"
sleep "${PI_CLIENT_READER_WAIT:-0.5}"
exec "$VIRTUAL_ENV/bin/python3" pi_client.py
