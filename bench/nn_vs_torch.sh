#!/bin/sh
# bench/nn_vs_torch.sh — hqcnn's network against ../shared/bench/torch_hqcnn.py, the same
# architecture in PyTorch, on the same thread count, in one run: training and inference
# images/s of the HQCNN model (quantum layer included) and of the classical ablation.
# Rounds alternate between the two implementations so that both see the same machine load;
# every measurement is one JSON line. Called by bench/run.sh when Debian's python3-torch is
# installed (`apt-get install python3-torch python3-numpy`); skipped otherwise.
#
#   bench/nn_vs_torch.sh [THREADS] [ROUNDS]        (defaults 2 and 3)
#
# bench_nn times epochs of 546 images (BreastMNIST's training split) on synthetic inputs of
# the 1x28x28 shape that BreastMNIST and PneumoniaMNIST share (the cost does not depend on
# pixel values); torch_hqcnn.py --bench times epochs of the real training split of the
# dataset it is given. Both: batch 128, one warm-up epoch, Adam.
set -u
BUILD=${BUILD:-build}
THREADS=${1:-2}
ROUNDS=${2:-3}
SHARED=${HQCNN_SHARED:-../shared}
PY=${HQCNN_TORCH_PYTHON:-/usr/bin/python3}
TORCH="$SHARED/bench/torch_hqcnn.py"
if ! [ -f "$TORCH" ] || ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
    echo '{"bench":"nn_vs_torch","skipped":"PyTorch not installed (apt-get install python3-torch python3-numpy)"}'
    exit 0
fi
data() { for d in "$SHARED/data/medmnist/$1.npz" "data/$1.npz"; do [ -f "$d" ] && { echo "$d"; return; }; done; }
r=1
while [ "$r" -le "$ROUNDS" ]; do
    "$BUILD/bench/bench_nn" --threads "$THREADS" --rounds 3 | grep -v quantum_layer_only |
        sed "s/^{/{\"round\":$r,\"impl\":\"hqcnn\",/"
    for ds in breastmnist pneumoniamnist; do
        f=$(data $ds)
        [ -n "$f" ] || continue
        for kind in quantum classical; do
            flag=""
            [ $kind = classical ] && flag=--classical
            OMP_NUM_THREADS=$THREADS "$PY" "$TORCH" --data "$f" --threads "$THREADS" --bench $flag |
                sed "s/^{/{\"bench\":\"nn_torch_$kind\",\"round\":$r,\"impl\":\"pytorch\",\"dataset\":\"$ds\",/"
        done
    done
    r=$((r + 1))
done
