"""`make demo` with a 4-block encoder (what benchmarks/depth_rule.py's size rule gives BasicMotions' 40 series) and 8.

The depth rule's condition was measured with the linear evaluation (every training label, a logistic regression on
frozen features). This checks what it does to fine-tuning with few labels, our users' case, on the main job: the
demo (one pretraining, 3 draws of 8 labelled series, 40 test series, so one series is 2.5 points), repeated for
pretraining seeds 0, 1 and 2 at both depths (the from-scratch model gets the same depth as the encoder). One JSON
line per seed and depth (the per-draw accuracies of `run_demo`'s summary):

    python benchmarks/demo_depth.py --out benchmarks/ablation/demo_depth.jsonl     # about 4 minutes at 2 threads
    python benchmarks/demo_depth.py --report --out benchmarks/ablation/demo_depth.jsonl
    python benchmarks/demo_depth.py --linear --out benchmarks/ablation/demo_depth_linear.jsonl   # about 2 minutes
    python benchmarks/demo_depth.py --report --out benchmarks/ablation/demo_depth_linear.jsonl
"""
import argparse
import contextlib
import io
import sys
import tempfile

import numpy as np

from jsonl_log import log_record, read_records  # benchmarks/jsonl_log.py

METHODS = ('from scratch', 'FineLast', 'FineAll')


def run(out, seeds, threads):
    import torch
    from tsai_timemae.demo import run_demo
    torch.set_num_threads(threads)
    for seed in seeds:
        for n_layers in (4, 8):
            with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
                res = run_demo(seed=seed, target_dir=tmp, out_dir=tmp, verbose=False, arch={'n_layers': n_layers})
            row = {'seed': seed, 'n_layers': n_layers, **{m: res[m]['accuracy'] for m in METHODS}}
            log_record(row, out)
            print(row, flush=True)


def run_linear(out, seeds, threads):
    """A diagnostic of where the demo's loss with 4 blocks is: the demo's encoders again (the same pretraining), read by
    the linear evaluation (`StandardScaler` + `LogisticRegression`, C = 1) fitted on each draw's 8 labelled series,
    and on all 40 training series, through the demo's own scaling, scored on the 40 test series; beside them, the
    untrained encoder of the same depth and seed."""
    import torch
    from tsai.data.core import TSClassification, get_ts_dls
    from tsai.learner import ts_learner
    from tsai_timemae.model import TimeMAE
    from tsai_timemae.data import label_subset
    from tsai_timemae.demo import load_basic_motions, pretrain_encoder, standardize_by_channel
    from tsai_timemae.embeddings import get_embeddings
    from tsai_timemae.probe import linear_probe_score
    from tsai_timemae.transfer import finelast_learner
    torch.set_num_threads(threads)
    Xtr, ytr, Xte, yte = load_basic_motions()
    for seed in seeds:
        for n_layers in (4, 8):
            with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
                weights = pretrain_encoder(Xtr, 100, 16, seed, tmp, {'n_layers': n_layers}, verbose=False)
                dls = get_ts_dls(Xtr, ytr, splits=(list(range(len(Xtr))), []), tfms=[None, TSClassification()],
                                 batch_tfms=[standardize_by_channel(Xtr)], bs=16)
                pretrained = finelast_learner(dls, weights)      # the encoder behind the demo's scaling
                untrained = ts_learner(dls, TimeMAE, seed=seed, n_layers=n_layers)  # its untrained twin
            row = {'seed': seed, 'n_layers': n_layers}
            for name, learn in (('linear', pretrained), ('untrained', untrained)):
                f_tr, f_te = get_embeddings(learn, Xtr), get_embeddings(learn, Xte)
                row[f'{name}, 8 labels'] = [linear_probe_score(f_tr[idx], ytr[idx], f_te, yte)
                                            for idx in (label_subset(ytr, 0.2, seed + d) for d in range(3))]
                row[f'{name}, 40 labels'] = [linear_probe_score(f_tr, ytr, f_te, yte)]
            log_record(row, out)
            print(row, flush=True)


def report(out):
    rows = read_records(out)
    methods = [m for m in (*METHODS, 'linear, 8 labels', 'untrained, 8 labels', 'linear, 40 labels', 'untrained, 40 labels')
               if m in rows[0]]
    print('| encoder depth | seeds | ' + ' | '.join(methods) + ' |\n|---|---|' + '---|' * len(methods))
    for n in (4, 8):
        rs = [r for r in rows if r['n_layers'] == n]
        cells = [f"{100 * np.mean([np.mean(r[m]) for r in rs]):.1f} ± {100 * np.std([np.mean(r[m]) for r in rs]):.1f}"
                 for m in methods]
        label = f'{n} (the demo default)' if n == 8 else str(n)
        print(f"| {label} | {','.join(str(r['seed']) for r in rs)} | " + ' | '.join(cells) + ' |')
    print('\nMean over each seed\'s 3 draws, then mean ± std over the pretraining seeds; test accuracy %.')


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='benchmarks/ablation/demo_depth.jsonl')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--report', action='store_true')
    p.add_argument('--linear', action='store_true', help='the linear evaluation of the same encoders (run_linear)')
    a = p.parse_args()
    sys.exit(report(a.out) if a.report else (run_linear if a.linear else run)(a.out, a.seeds, a.threads))
