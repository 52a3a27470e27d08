"""Few labels: does FineAll gain from distilling itself on the unlabelled series (SimCLRv2's third step)?

Issue 15's goal is unmet on HAR: with 1% of the labels FineAll is 1.6 points above InceptionTimePlus (the bar is 4.7),
with 5% it is 0.5 below. Every TimeMAE row so far uses the unlabelled series once, in pretraining, and then fine-tunes
on the labelled few alone. Chen et al. (NeurIPS 2020, "Big Self-Supervised Models are Strong Semi-Supervised
Learners", SimCLRv2) add a third step that uses them again: the fine-tuned network labels every unlabelled series with
its class probabilities and a student of the same architecture is trained on them; with 1% of ImageNet's labels it
gained several points. Our users have exactly those unlabelled series. The question is whether the step helps
TimeMAE, and whether it helps TimeMAE more than the same step helps the supervised baseline (the control: a
semi-supervised step is not pretraining's merit if InceptionTimePlus gains as much from it).

The protocol, fixed before any run was scored (one read of the test split per seed, fraction and row; nothing chosen
on it). Everything is the label study's (`timemae bench HAR --label-fraction ...`): its cached 100-epoch encoders, its
committed labelled subsets, its scaling, no validation labels, the final epoch scored:
- **Teacher**: the bench's run on the labelled subset, unchanged (FineAll: `fineall_learner` on the cached encoder,
  `fit_one_cycle(50, 1e-3)`; InceptionTimePlus: `ts_learner(dls, InceptionTimePlus)`, `fit_one_cycle(50, 1e-3)`).
  Its test score is recorded as the check that it reproduces its reference: InceptionTimePlus the committed row,
  FineAll `lpft.py`'s FineAll rerun (the cached encoders are that study's re-pretrained ones, not bit-identical to the
  committed ones). A resumed run trains a teacher again for its targets without scoring it again.
- **The unlabelled pool**: the pretraining's inputs (HAR: the training and validation inputs, 7,352 series), scaled
  as the labelled series are (`standardize_by_channel` of the training inputs). No label is read but the labelled series' own.
- **Targets**: the teacher's class probabilities (softmax, temperature 1) for every pool series, except the labelled
  ones, whose target is their own label (one-hot).
- **Student**: the method's own starting point, trained again (FineAll: the cached encoder with a new head, as the
  teacher started; InceptionTimePlus: a random network of the same seed), on the whole pool with cross-entropy against
  those targets, `fit_one_cycle(10, 1e-3)` at the bench's batch size (10 epochs of the pool: 570 steps on HAR, fastai dropping
  each epoch's last partial batch, against the teacher's 50 at 1%), the final epoch scored.

    python benchmarks/self_distill.py HAR --cache-dir <the label study's cache> --methods fineall --out benchmarks/ablation/self_distill.jsonl
    python benchmarks/self_distill.py HAR --cache-dir <cache> --methods inceptiontimeplus --out benchmarks/ablation/self_distill.jsonl
    python benchmarks/self_distill.py HAR --report --out benchmarks/ablation/self_distill.jsonl

One JSON line per data set, seed, label fraction and row (a row already in `--out` is not run again). The encoders
must be the label study's (see `lpft.py --help`). `--report` prints the rows beside the committed rows of the same
seeds and issue 15's margin for the self-distilled FineAll.
"""
import argparse
import contextlib
import io
import shutil
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fastai.metrics import accuracy
from tsai.data.core import get_ts_dls
from tsai.learner import ts_learner
from tsai.models.InceptionTimePlus import InceptionTimePlus

from jsonl_log import log_record, read_records  # benchmarks/jsonl_log.py
from lpft import _cell, _fit, committed  # benchmarks/lpft.py: the committed rows, a quiet fit, a mean ± std cell
from tsai_timemae import bench
from tsai_timemae.data import standardize_by_channel
from tsai_timemae.evaluate import evaluate_learner
from tsai_timemae.transfer import fineall_learner

HERE = Path(__file__).resolve().parent
STUDENT_EPOCHS, STUDENT_LR = 10, 1e-3
METHODS = {'fineall': ('FineAll', 'timemae_fineall_kmeans'), 'inceptiontimeplus': ('InceptionTimePlus', 'inceptiontimeplus')}
TEACHER, STUDENT = '{} (teacher)', '{}, self-distilled'
BASELINES = ('timemae_scratch', 'inceptiontimeplus')  # issue 15's goal, committed label-study rows


def soft_cross_entropy(pred, targ):
    "Cross-entropy against class probabilities (a teacher's soft labels, or one-hot labels) `[batch, classes]`."
    return F.cross_entropy(pred.as_subclass(torch.Tensor), targ.as_subclass(torch.Tensor))


def distillation_targets(teacher_probs: np.ndarray, labelled_idx, labels: np.ndarray) -> np.ndarray:
    """The student's targets over the pool: the teacher's probabilities, with the labelled series' rows (their
    positions in the pool) replaced by their one-hot labels (`labels`: class indices in the teacher's vocabulary)."""
    targets = np.asarray(teacher_probs, dtype=np.float32).copy()
    idx = np.asarray(labelled_idx, dtype=int)
    targets[idx] = 0.
    targets[idx, np.asarray(labels, dtype=int)] = 1.
    return targets


def student_dls(pool, probs, labelled_idx, labels, vocab, scale_X, bs: int):
    """The student's loaders over the whole pool: inputs scaled as the labelled loaders scale them
    (`standardize_by_channel(scale_X)`), targets from `distillation_targets` (`labels`: the labelled series' own labels,
    mapped to indices in `vocab`, the order of the teacher's probabilities). Also returns how often the teacher's
    prediction is the label on the labelled series. fastai's training default `drop_last=True` leaves out the last
    partial batch each epoch (a different random few each epoch): 57 batches of 128 on HAR's 7,352 series."""
    vocab = list(vocab)
    targets = distillation_targets(probs, labelled_idx, [vocab.index(v) for v in labels])
    agree = float((np.asarray(probs).argmax(1)[labelled_idx] == targets[labelled_idx].argmax(1)).mean())
    dls = get_ts_dls(pool, targets, splits=(list(range(len(pool))), []), tfms=[None, None],
                     batch_tfms=[standardize_by_channel(scale_X)], bs=bs)
    return dls, agree


def unlabelled_pool(ds, pretraining) -> np.ndarray:
    "The pretraining's inputs: the training series, then the validation series when it pretrained on both."
    return np.concatenate([ds.X_train, ds.X_valid]) if pretraining.inputs == 'train+valid' else ds.X_train


def run_seed(ds, dataset: str, seed: int, frac: float, methods, cache_dir, done: set, out):
    """Teacher and student of each method for one seed and fraction."""
    fa = bench.method_settings(bench.run_config(dataset, 'timemae_fineall', 'kmeans', label_fraction=frac), 'timemae_fineall')
    it = bench.method_settings(bench.run_config(dataset, 'inceptiontimeplus', 'kmeans', label_fraction=frac), 'inceptiontimeplus')
    assert fa.train.selection == it.train.selection == 'last' and fa.readout == 'mean'
    idx = bench.fixed_label_subset(ds, frac, seed, HERE)  # the committed subset (an error if the data changed)
    base = {'dataset': ds.name, 'seed': seed, 'label_fraction': frac, 'n_labelled': len(idx)}
    pool = unlabelled_pool(ds, fa.pretraining)
    if 'fineall' in methods:  # the cached encoder is checked before anything is made on disk
        stem = bench.cache_path(cache_dir, ds.name, ds.source, fa.pretraining, seed)
        pre = bench._cached(stem)
        if pre is None:
            raise SystemExit(f"No finished encoder at {stem}.pth: point --cache-dir at the label study's cache.")
        pre = bench.check_library_defaults(bench.check_same_inputs(pre, stem, ds), stem, fa.pretraining.tokenizer)
        arch = fa.pretraining.arch
        kw = dict(metrics=accuracy, seed=seed, n_heads=arch.n_heads, d_ff=arch.d_ff, dropout=arch.dropout, model_dir='.')
        make = {'fineall': lambda dls: fineall_learner(dls, pre['weights'], path=work, **kw)}  # `work`: made below
        base_m = {'fineall': {'weights': Path(pre['weights']).name}}
    else: make, base_m = {}, {}
    make['inceptiontimeplus'] = lambda dls: ts_learner(dls, InceptionTimePlus, metrics=accuracy, seed=seed, path=work,
                                                        model_dir='.', **it.model)
    settings = {'fineall': fa, 'inceptiontimeplus': it}

    def record(row, learn, loss, schedule, extra):
        metrics = evaluate_learner(learn, ds.X_test, ds.y_test)  # the test split, once for this row
        log_record({**base, **extra, 'row': row, 'accuracy': metrics['accuracy'], 'macro_f1': metrics['macro_f1'],
                    'final_train_loss': loss, 'schedule': schedule}, out)
        done.add((seed, frac, row))
        print(f"{ds.name} seed {seed} {100 * frac:g}%: {row}: {100 * metrics['accuracy']:.2f}", flush=True)

    work = Path(tempfile.mkdtemp(prefix='timemae_distill_'))  # removed by the `finally` below, whatever happens
    try:
        for m in methods:
            name, s = METHODS[m][0], settings[m]
            teacher_row, student_row = TEACHER.format(name), STUDENT.format(name)
            if (seed, frac, teacher_row) in done and (seed, frac, student_row) in done: continue
            extra = base_m.get(m, {})
            labelled = bench.make_dls(ds, s.bs, seed, idx)
            with contextlib.redirect_stdout(io.StringIO()): teacher = make[m](labelled)
            loss = _fit(teacher, s.train.epochs, s.train.lr)
            if (seed, frac, teacher_row) not in done:  # a resumed run retrains it for the targets, unscored
                record(teacher_row, teacher, loss, f'fit_one_cycle({s.train.epochs}, {s.train.lr:g}) on the labelled series', extra)
            if (seed, frac, student_row) in done: continue
            with teacher.no_bar(): probs = np.asarray(teacher.get_X_preds(pool, bs=256, with_decoded=False)[0])
            soft, agree = student_dls(pool, probs, idx, ds.y_train[idx], labelled.vocab, ds.X_train, s.bs)
            with contextlib.redirect_stdout(io.StringIO()): student = make[m](labelled)  # the method's starting point
            student.dls, student.loss_func, student.metrics = soft, soft_cross_entropy, []
            loss = _fit(student, STUDENT_EPOCHS, STUDENT_LR)
            student.dls, student.loss_func = labelled, teacher.loss_func  # the labelled vocabulary, to score it
            record(student_row, student, loss, f'fit_one_cycle({STUDENT_EPOCHS}, {STUDENT_LR:g}) on {len(pool)} series, '
                   "targets the teacher's probabilities (one-hot on the labelled series)",
                   {**extra, 'n_pool': len(pool), 'teacher_train_fit': agree,
                    'teacher_pool_class_counts': np.bincount(probs.argmax(1), minlength=probs.shape[1]).tolist()})
    finally: shutil.rmtree(work, ignore_errors=True)


def run(dataset: str, seeds, fractions, methods, cache_dir, out):
    done = {(r['seed'], r['label_fraction'], r['row']) for r in read_records(out) if r['dataset'] == dataset} \
        if Path(out).is_file() else set()
    cfg = bench.run_config(dataset, 'timemae_fineall', 'kmeans')
    ds = bench.load_dataset(dataset, None, cfg['valid_size'], cfg['split_seed'], cfg['pad_value'])
    for seed in seeds:
        for frac in fractions: run_seed(ds, dataset, seed, frac, methods, cache_dir, done, out)


def _margin(name: str, new: list, base: list) -> str:
    "Issue 15's margin, as `label_goal.py`: the difference of the means against twice the larger std (ddof 0)."
    d = statistics.fmean(new) - statistics.fmean(base)
    bar = 2 * max(statistics.pstdev(new), statistics.pstdev(base))
    return f"FineAll, self-distilled - {name}: {100 * d:+.2f}, bar {100 * bar:.2f}: {'met' if d > bar else 'not met'}"


def report(dataset: str, path, results=HERE / 'results', lpft=HERE / 'ablation' / 'lpft.jsonl') -> str:
    """Per label fraction: each row over the seeds it has, the committed row of those seeds, whether each teacher
    reproduced its reference (InceptionTimePlus: the committed row; FineAll: `lpft.py`'s FineAll rerun, the same
    encoders, which are not bit-identical to the committed ones), each method's gain from the step per seed and on
    average, and issue 15's margin for the self-distilled FineAll against the committed baselines and against the
    self-distilled InceptionTimePlus (seeds that have both)."""
    runs = defaultdict(lambda: defaultdict(dict))
    for r in read_records(path):
        if r['dataset'] == dataset: runs[(r['label_fraction'], r['n_labelled'])][r['row']][r['seed']] = r['accuracy']
    rerun = {(r['seed'], r['label_fraction']): r['accuracy'] for r in read_records(lpft)
             if r['dataset'] == dataset and r['row'] == 'FineAll'} if Path(lpft).is_file() else {}
    lines = []
    for (frac, n), by_row in sorted(runs.items()):
        lines += [f'{100 * frac:g}% of the labels ({n} series)', '',
                  '| row | seeds | test % | committed row, same seeds | teacher reproduces | student - teacher, per seed |',
                  '|---|---|---|---|---|---|']
        gains = {}
        for m, (name, key) in METHODS.items():
            t, s = by_row.get(TEACHER.format(name), {}), by_row.get(STUDENT.format(name), {})
            if not t: continue
            old = {seed: committed(dataset, key, frac, seed, results) for seed in t}
            ref = old if m == 'inceptiontimeplus' else {seed: rerun.get((seed, frac)) for seed in t}
            what = 'the committed row' if m == 'inceptiontimeplus' else "lpft.py's FineAll"
            same = f'{sum(ref[k] == v for k, v in t.items())} of {len(t)} ({what})' if None not in ref.values() else '–'
            both = sorted(set(t) & set(s))
            gains[name] = {k: s[k] - t[k] for k in both}
            lines.append(f'| {TEACHER.format(name)} | {len(t)} | {_cell(list(t.values()))} | '
                         f"{_cell(list(old.values())) if None not in old.values() else '–'} | {same} | |")
            if s: lines.append(f"| {STUDENT.format(name)} | {len(s)} | {_cell(list(s.values()))} | | | "
                               f"{', '.join(f'{100 * g:+.2f}' for g in gains[name].values()) or '–'} |")
        lines.append('')
        for name, g in gains.items():
            if g: lines.append(f'- Gain from the step, {name}: {100 * statistics.fmean(g.values()):+.2f} on average over {len(g)} seeds.')
        s = by_row.get(STUDENT.format('FineAll'), {})
        if s:
            seeds = sorted(s)
            for b in BASELINES:
                old = [committed(dataset, b, frac, k, results) for k in seeds]
                if None not in old: lines.append(f'- {_margin(b + " (committed)", [s[k] for k in seeds], old)} ({len(seeds)} seeds)')
            other = by_row.get(STUDENT.format('InceptionTimePlus'), {})
            paired = sorted(set(s) & set(other))
            if paired:
                lines.append(f"- {_margin('InceptionTimePlus, self-distilled', [s[k] for k in paired], [other[k] for k in paired])} "
                             f'({len(paired)} seeds)')
        lines.append('')
    return '\n'.join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('dataset', choices=['HAR', 'Epilepsy'])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--label-fraction', type=float, nargs='+', default=[0.01, 0.05])
    p.add_argument('--methods', nargs='+', choices=list(METHODS), default=['fineall'])
    p.add_argument('--cache-dir', default='benchmarks/cache', help="the label study's pretrained encoders")
    p.add_argument('--out', default=str(HERE / 'ablation' / 'self_distill.jsonl'))
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--report', action='store_true', help='print the tables of --out and stop')
    a = p.parse_args()
    if a.report: return print(report(a.dataset, a.out))
    torch.set_num_threads(a.threads)
    run(a.dataset, a.seeds, a.label_fraction, a.methods, a.cache_dir, a.out)


if __name__ == '__main__':
    main()
