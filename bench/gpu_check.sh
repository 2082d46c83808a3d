#!/usr/bin/env bash
# One pass of GPU checks for a lent CUDA machine; run from the repository root:
#
#     bash bench/gpu_check.sh            # results in $OUT (default ./gpu_out)
#
# The whole script ends within $BUDGET seconds (default 540): each step runs under its own `timeout`,
# cut to what is left of the budget, and logs to $OUT/<step>.log; a failing step is recorded and the
# script goes on. Steps, most telling first:
#   setup    CuPy from wheels carried in .whl/ when that folder exists (the machine is offline; with a
#            network, pip install -e ".[cuda12]" brings CuPy, NVRTC and the CUDA headers)
#   tests    the test suite on CuPy (TINYGAN_BACKEND=cupy python -m pytest -v, over 8 processes when
#            pytest-xdist is there, 120 s per test when pytest-timeout is)
#   textured python -m tinygan.train --backend cupy --layout random --background textured --steps 300
#   evaluate python -m tinygan.evaluate --backend cupy --n 100 on that checkpoint (issue 25's model)
#   small    python -m tinygan.train --backend cupy --preset small --steps 200, evaluated at step 200
#   step     python bench/step_speed.py --backend cupy --presets small paper (against PyTorch eager on CUDA)
#   bench    python bench/conv_speed.py --backend cupy --json $OUT/conv_gpu.json
#   paper    python -m tinygan.train --backend cupy --preset paper --steps 200
#   random   python -m tinygan.train --backend cupy --layout random --steps 200 (free layouts)
# MNIST is read from $TINYGAN_DATA, else from .gpu_data/mnist in the checkout (copy it there and name
# that folder in the device tool's `carry`: ../shared does not travel). Python is $PYTHON, else python3.
# CuPy is used when it imports, sees the GPU and compiles a kernel (tinygan.backend.cupy_status; else
# every step is skipped with the reason, which names the extra to install). A summary table (step,
# status, seconds, key figure) is printed last. The two JSON files carry the stamp of bench/harness.py
# (commit, GPU, CuPy and CUDA versions, date, command line).
set -u

OUT=${OUT:-./gpu_out}
BUDGET=${BUDGET:-540}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # tinygan importable without pip install (the machine is offline)
if [ -z "${TINYGAN_DATA:-}" ] && [ -d .gpu_data/mnist ]; then export TINYGAN_DATA=$PWD/.gpu_data/mnist; fi
export PYTHONUNBUFFERED=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # the lent machine runs as root; its mpiexec is Open MPI
SUMMARY=()

# run_step NAME LIMIT_S KEY_REGEX COMMAND...: run with a time limit, log, add a summary row.
# The key figure is the last log line matching KEY_REGEX (else the last line of the log).
run_step() {
    local name=$1 limit=$2 key_regex=$3
    shift 3
    local log="$OUT/$name.log" start=$SECONDS status key left=$((BUDGET - SECONDS))
    if [ "$left" -lt 15 ]; then skip_step "$name" "out of the ${BUDGET}s budget"; return; fi
    [ "$limit" -le "$left" ] || limit=$left
    echo ">>> $name: $* (limit ${limit}s, log $log)"
    timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
    local rc=$?
    case $rc in
        0) status=OK ;;
        124 | 137) status=TIMEOUT ;;
        *) status="FAIL(rc=$rc)" ;;
    esac
    if [ "$status" != OK ]; then tail -n 15 "$log" | sed 's/^/    | /'; fi
    key=$(grep -E "$key_regex" "$log" | tail -n 1)
    [ -n "$key" ] || key=$(grep -v '^\s*$' "$log" | tail -n 1)
    SUMMARY+=("$name|$status|$((SECONDS - start))|${key:0:90}")
}

skip_step() {  # skip_step NAME REASON
    SUMMARY+=("$1|SKIP|0|$2")
}

echo ">>> machine"
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
    "$PY" --version 2>&1
} | tee "$OUT/machine.log"

if [ -d .whl ]; then
    run_step setup 60 'Successfully installed' \
        "$PY" -m pip install --no-index --find-links .whl .whl/*.whl
else
    skip_step setup "no .whl/ folder; pip install -e .[cuda12] needs the network"
fi

CUPY_STATUS=$("$PY" -c 'from tinygan.backend import cupy_status; print(cupy_status()[1])' 2>&1 | tail -n 1)
"$PY" -c 'import numpy, sys; print("numpy", numpy.__version__)
for name in ("cupy", "torch", "pytest"):
    try:
        module = __import__(name)
        print(name, module.__version__, end=" ")
        if name == "torch":
            print("cuda" if module.cuda.is_available() else "no cuda", end="")
        print()
    except ImportError as err:
        print(name, "missing:", err)' 2>&1 | tee -a "$OUT/machine.log"
echo "cupy: $CUPY_STATUS" | tee -a "$OUT/machine.log"

if [ "$CUPY_STATUS" = ok ]; then
    XDIST=()
    if "$PY" -c 'import xdist' 2>/dev/null; then XDIST=(-n 8); fi  # -v: each result is in the log, even if cut off
    if "$PY" -c 'import pytest_timeout' 2>/dev/null; then XDIST+=(--timeout 120); fi
    # 8 processes of 2 host threads each share the 16 cores (at 16 threads each, NumPy's tests crawl)
    TINYGAN_BACKEND=cupy OPENBLAS_NUM_THREADS=2 TINYGAN_THREADS=2 run_step tests 300 '(passed|failed|error)' \
        "$PY" -m pytest -v -rfE -p no:cacheprovider "${XDIST[@]}"
    run_step textured 80 's/step' \
        "$PY" -m tinygan.train --backend cupy --layout random --background textured --steps 300 --log-every 50 --eval-every 0 --overwrite --out "$OUT/run_textured"
    run_step evaluate 60 'digits correct \(per' \
        "$PY" -m tinygan.evaluate --backend cupy --checkpoint "$OUT/run_textured/checkpoint.npz" --n 100
    run_step small 100 'eval at step' \
        "$PY" -m tinygan.train --backend cupy --preset small --steps 200 --log-every 50 --eval-every 200 --overwrite --out "$OUT/run_small"
    run_step step 90 '^paper ' \
        "$PY" bench/step_speed.py --backend cupy --presets small paper --json "$OUT/step_gpu.json"
    run_step bench 70 'geometric mean' \
        "$PY" bench/conv_speed.py --backend cupy --json "$OUT/conv_gpu.json"
    run_step paper 50 's/step' \
        "$PY" -m tinygan.train --backend cupy --preset paper --steps 200 --log-every 50 --overwrite --out "$OUT/run_paper"
    run_step random 40 's/step' \
        "$PY" -m tinygan.train --backend cupy --layout random --steps 200 --log-every 50 --overwrite --out "$OUT/run_random"
else
    for step in tests textured evaluate small step bench paper random; do skip_step "$step" "cupy unusable: ${CUPY_STATUS:0:70}"; done
fi

TEXTURED_REPORT="$OUT/run_textured/eval/report.md"
if [ -f "$TEXTURED_REPORT" ]; then
    echo; echo ">>> textured evaluation ($TEXTURED_REPORT)"; cat "$TEXTURED_REPORT"
fi
if [ -f "$OUT/bench.log" ]; then
    echo; echo ">>> conv_speed table"; grep -v '^  measured' "$OUT/bench.log"
fi
echo
echo ">>> summary (logs in $OUT)"
printf '%-9s %-12s %7s  %s\n' step status seconds "key figure"
for row in "${SUMMARY[@]}"; do
    IFS='|' read -r name status seconds key <<<"$row"
    printf '%-9s %-12s %7s  %s\n' "$name" "$status" "$seconds" "$key"
done
