"""The figures of nbs/14_plots.ipynb: `show_masks` and `plot_embeddings` on BasicMotions (bundled with sktime: nothing
is downloaded), so that the notebook shows what the two functions draw even unrendered.

TimeMAE pretrains with `TimeMAEPretrain()`'s defaults on the 40 training series without their labels, as `make demo`
does, then:
- `basicmotions_show_masks.png`: two test series as the model sees them (standardized), their patches, the masked
  ones shaded and each masked patch's codeword (green where the model predicts it);
- `basicmotions_embeddings.png`: t-SNE of the 40 test series' embeddings before and after pretraining, coloured by
  class (the same learner before and after its fit; the test labels only colour the points).

    python benchmarks/plot_examples.py                     # the committed figures (100 epochs; it prints its wall time)
    python benchmarks/plot_examples.py --epochs 1 --out /tmp/plots   # seconds
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

DEFAULT_OUT = 'benchmarks/plots'
FIGURES = ('basicmotions_show_masks.png', 'basicmotions_embeddings.png')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--epochs', type=int, default=100, help='pretraining epochs (default 100, as `make demo`)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default=DEFAULT_OUT, help=f'folder of the two figures (default {DEFAULT_OUT})')
    p.add_argument('--threads', type=int, default=2, help='torch CPU threads (default 2)')
    args = p.parse_args(argv)
    if args.epochs < 1: p.error(f'--epochs must be at least 1, got {args.epochs}')
    if args.threads < 1: p.error(f'--threads must be at least 1, got {args.threads}')
    return args


def draw(epochs: int = 100, seed: int = 0, out=DEFAULT_OUT, threads: int = 2) -> list[Path]:
    "Pretrain on BasicMotions' training series and save the two figures under `out` -> their paths."
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    import torch
    from fastai.torch_core import set_seed
    from tsai.data.core import get_ts_dls
    from tsai.learner import ts_learner
    from tsai_timemae.data import standardize_by_channel
    from tsai_timemae.demo import load_basic_motions
    from tsai_timemae.model import TimeMAE
    from tsai_timemae.plots import plot_embeddings, show_masks
    from tsai_timemae.pretrain import TimeMAEPretrain
    from tsai_timemae.weights import check_writable_folder, save_figure
    import tempfile

    t0 = time.perf_counter()
    out = check_writable_folder(out, '--out')
    torch.set_num_threads(threads)
    Xtr, _, Xte, yte = load_basic_motions()
    set_seed(seed, reproducible=True)
    # every training series pretrains; a seeded fifth of them also gives the validation loss (as `make demo`)
    valid = sorted(np.random.default_rng(seed).choice(len(Xtr), len(Xtr) // 5, replace=False).tolist())
    dls = get_ts_dls(Xtr, splits=(list(range(len(Xtr))), valid), batch_tfms=[standardize_by_channel(Xtr)], bs=16)
    with tempfile.TemporaryDirectory() as tmp:  # the encoder file is not what this script is for
        learn = ts_learner(dls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp, verbose=False), seed=seed)
        classes = sorted(set(yte))
        fig, axs = plt.subplots(1, 2, figsize=(10, 4.6))
        plot_embeddings(learn, Xte, yte, ax=axs[0], classes=classes, seed=seed,
                        title='before pretraining (the random start)')
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, 1e-3)
        plot_embeddings(learn, Xte, yte, ax=axs[1], classes=classes, seed=seed,
                        title=f'after {epochs} pretraining epoch{"s" * (epochs != 1)} (no labels)')
        fig.suptitle(f'BasicMotions: t-SNE of the {len(Xte)} test series\' mean-pooled embeddings, coloured by class',
                     fontsize=10)
        fig.tight_layout()
        paths = [out / FIGURES[1]]
        save_figure(fig, paths[0]); plt.close(fig)
        fig, _ = show_masks(learn, Xte[[0, 20]], n=2, seed=seed)
        paths.insert(0, save_figure(fig, out / FIGURES[0])); plt.close(fig)
    for p in paths: print(f'Wrote {p}')
    print(f'{time.perf_counter() - t0:.0f} s at {threads} torch thread{"s" * (threads != 1)}')
    return paths


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', str(args.threads))
    draw(args.epochs, args.seed, args.out, args.threads)


if __name__ == '__main__':
    sys.exit(main())
