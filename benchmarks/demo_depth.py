"""`make demo` with a 4-block encoder (what benchmarks/depth_rule.py's size rule gives BasicMotions' 40 series) and 8.

The depth rule's condition was measured with the linear evaluation (every training label, a logistic regression on
frozen features). This checks what it does to fine-tuning with few labels, our users' case, on the main job: the
demo (one pretraining, 3 draws of 8 labelled series, 40 test series, so one series is 2.5 points), repeated for
pretraining seeds 0, 1 and 2 at both depths (the from-scratch model gets the same depth as the encoder). One JSON
line per seed and depth (the per-draw accuracies of `run_demo`'s summary):

    python benchmarks/demo_depth.py --out benchmarks/ablation/demo_depth.jsonl     # about 4 minutes at 2 threads
    python benchmarks/demo_depth.py --report --out benchmarks/ablation/demo_depth.jsonl
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


def report(out):
    rows = read_records(out)
    print('| encoder depth | seeds | ' + ' | '.join(METHODS) + ' |\n|---|---|' + '---|' * len(METHODS))
    for n in (4, 8):
        rs = [r for r in rows if r['n_layers'] == n]
        cells = [f"{100 * np.mean([np.mean(r[m]) for r in rs]):.1f} ± {100 * np.std([np.mean(r[m]) for r in rs]):.1f}"
                 for m in METHODS]
        label = f'{n} (the demo default)' if n == 8 else str(n)
        print(f"| {label} | {','.join(str(r['seed']) for r in rs)} | " + ' | '.join(cells) + ' |')
    print('\nMean over each seed\'s 3 draws, then mean ± std over the pretraining seeds; test accuracy %.')


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='benchmarks/ablation/demo_depth.jsonl')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--report', action='store_true')
    a = p.parse_args()
    sys.exit(report(a.out) if a.report else run(a.out, a.seeds, a.threads))
