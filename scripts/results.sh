#!/bin/sh
# scripts/results.sh — the README's results table: train the HQCNN (statevector) and its
# classical ablation on BreastMNIST, PneumoniaMNIST and RetinaMNIST with seeds 0, 1, 2 and
# append each run's final metrics to a JSON-lines file; then summarise mean ± std.
#
#   scripts/results.sh [OUT.jsonl] [DATASET...]      (default: results.jsonl, all three)
#   scripts/results.sh --summary OUT.jsonl
#
# HQCNN_RESULTS_SEEDS="0 1 2 3 4 5 6 7 8" trains more seeds (default "0 1 2"); the README's
# ensembles are then `hqcnn eval --db runs/results.db results-D-K-sS results-D-K-s(S+3)
# results-D-K-s(S+6)` for S = 0, 1, 2.
#
# Models are selected on the validation split (train.select); the test split is read once,
# at the end of each run. One thread per run, so two runs can share a 2-core machine.
set -eu
HQCNN=${HQCNN:-build/hqcnn}
DATA_DIR=${HQCNN_DATA_DIR:-../shared/data/medmnist}
if [ "${1:-}" = "--summary" ]; then
    # mean and sample std of test ACC/AUC per config, from the JSON lines (awk, no Python)
    sed -n 's/.*"config":"\([^"]*\)".*"test":{[^}]*"acc":\([0-9.]*\),"auc":\([0-9.]*\).*/\1 \2 \3/p' "$2" |
        awk '{n[$1]++; a[$1]+=$2; aa[$1]+=$2*$2; u[$1]+=$3; uu[$1]+=$3*$3}
             END {for (k in n) { m=a[k]/n[k]; mu=u[k]/n[k];
                  sa = n[k] > 1 ? sqrt((aa[k]-n[k]*m*m)/(n[k]-1)) : 0;
                  su = n[k] > 1 ? sqrt((uu[k]-n[k]*mu*mu)/(n[k]-1)) : 0;
                  printf "%-28s n=%d  ACC %.3f ± %.3f  AUC %.3f ± %.3f\n", k, n[k], m, sa, mu, su }}' |
        sort
    exit 0
fi
OUT=${1:-results.jsonl}
[ $# -gt 0 ] && shift
DATASETS=${*:-breastmnist pneumoniamnist retinamnist}
DB=${HQCNN_RESULTS_DB:-runs/results.db}
SEEDS=${HQCNN_RESULTS_SEEDS:-0 1 2}
mkdir -p runs
for d in $DATASETS; do
    for kind in sv classical; do
        for s in $SEEDS; do
            name="results-$d-$kind-s$s"
            "$HQCNN" train --config "configs/$d-$kind.json" --seed "$s" --threads 1 \
                --data-dir "$DATA_DIR" --db "$DB" --name "$name" --out "runs/$name" --quiet --json |
                sed "s/^{/{\"config\":\"$d-$kind\",\"seed\":$s,/" >>"$OUT"
        done
    done
done
