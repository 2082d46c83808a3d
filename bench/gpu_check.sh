#!/usr/bin/env bash
# One pass of GPU checks for a lent CUDA machine; run from the repository root:
#
#     bash bench/gpu_check.sh            # results in $OUT (default ./gpu_out)
#
# Steps, each under its own `timeout` so the whole script stays under ~8 minutes, each
# logging to $OUT/<step>.log; a failing step is recorded and the script goes on:
#   setup   CuPy from wheels carried in .whl/ when that folder exists (the machine is offline; with a
#           network, pip install -e ".[cuda12]" brings CuPy, NVRTC and the CUDA headers)
#   tests   the test suite on CuPy (TINYGAN_BACKEND=cupy python -m pytest -q)
#   bench   python bench/conv_speed.py --backend cupy --json $OUT/conv_gpu.json
#   step    python bench/step_speed.py --backend cupy --presets small paper (against PyTorch eager on CUDA)
#   judge   python -m tinygan.judge --train, only when no digit judge loads (the evaluation needs one)
#   small   python -m tinygan.train --backend cupy --preset small --steps 200, evaluated at step 200
#   paper   python -m tinygan.train --backend cupy --preset paper --steps 200
#   random  python -m tinygan.train --backend cupy --layout random --steps 200 (free layouts)
# CuPy is used when it imports, sees the GPU and compiles a kernel (tinygan.backend.cupy_status; else
# every step is skipped with the reason, which names the extra to install). A summary table (step,
# status, seconds, key figure: tests passed, the paper step against PyTorch, the small run's judged
# digits) is printed last. The two JSON files carry the stamp of bench/harness.py (commit, GPU, CuPy
# and CUDA versions, date, command line).
set -u

OUT=${OUT:-./gpu_out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # tinygan importable without pip install (the machine is offline)
SUMMARY=()

# run_step NAME LIMIT_S KEY_REGEX COMMAND...: run with a time limit, log, add a summary row.
# The key figure is the last log line matching KEY_REGEX (else the last line of the log).
run_step() {
    local name=$1 limit=$2 key_regex=$3
    shift 3
    local log="$OUT/$name.log" start=$SECONDS status key
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
    python --version 2>&1
} | tee "$OUT/machine.log"

if [ -d .whl ]; then
    run_step setup 60 'Successfully installed' \
        python -m pip install --no-index --find-links .whl .whl/*.whl
else
    skip_step setup "no .whl/ folder; pip install -e .[cuda12] needs the network"
fi

CUPY_STATUS=$(python -c 'from tinygan.backend import cupy_status; print(cupy_status()[1])' 2>&1 | tail -n 1)
python -c 'import numpy, sys; print("numpy", numpy.__version__)
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
    TINYGAN_BACKEND=cupy run_step tests 150 '(passed|failed|error)' \
        python -m pytest -q
    run_step bench 120 'geometric mean' \
        python bench/conv_speed.py --backend cupy --json "$OUT/conv_gpu.json"
    run_step step 120 '^paper ' \
        python bench/step_speed.py --backend cupy --presets small paper --json "$OUT/step_gpu.json"
    if python -c 'from tinygan.judge_model import load_judge; load_judge()' >/dev/null 2>&1; then
        skip_step judge "a digit judge loads"
    else
        run_step judge 150 'accuracy' python -m tinygan.judge --train
    fi
    run_step small 120 'eval at step' \
        python -m tinygan.train --backend cupy --preset small --steps 200 --log-every 50 --eval-every 200 --overwrite --out "$OUT/run_small"
    run_step paper 90 's/step' \
        python -m tinygan.train --backend cupy --preset paper --steps 200 --log-every 50 --overwrite --out "$OUT/run_paper"
    run_step random 60 's/step' \
        python -m tinygan.train --backend cupy --layout random --steps 200 --log-every 50 --overwrite --out "$OUT/run_random"
else
    for step in tests bench step judge small paper random; do skip_step "$step" "cupy unusable: ${CUPY_STATUS:0:70}"; done
fi

if [ -f "$OUT/bench.log" ]; then
    echo; echo ">>> conv_speed table"; grep -v '^  measured' "$OUT/bench.log"
fi
echo
echo ">>> summary (logs in $OUT)"
printf '%-6s %-12s %7s  %s\n' step status seconds "key figure"
for row in "${SUMMARY[@]}"; do
    IFS='|' read -r name status seconds key <<<"$row"
    printf '%-6s %-12s %7s  %s\n' "$name" "$status" "$seconds" "$key"
done
