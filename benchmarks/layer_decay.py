"""Few labels: does FineAll gain from layer-wise learning-rate decay (the lower a block, the smaller its rate)?

Issue 15's goal is unmet: with 1% and 5% of the training labels FineAll does not beat from-scratch TimeMAE and
InceptionTimePlus by two standard deviations. On Epilepsy at 5% FineAll (96.65) is below FineLast (97.04) and the
linear evaluation (97.38): training every weight at one rate trains the pretrained blocks as fast as the new head. BEiT, MAE and data2vec fine-tune with
layer-wise learning-rate decay: the head at the base rate, each block below at `decay` times the rate of the block above,
so the lower blocks stay near their pretrained weights. The library now offers it the fastai way
(`fineall_learner(dls, weights_path, splitter=timemae_splitter)` and `fit_one_cycle(n, layer_decay(learn, lr,
decay))`: one parameter group per block, fastai's discriminative rates).

The protocol, fixed and committed before any run was scored (one read of the test split per seed, fraction and row;
nothing chosen on it). Everything else is the label study's (`timemae bench ... --label-fraction ...`): its cached
100-epoch encoders, its committed labelled subsets, its scaling, no validation labels, the final epoch scored:
- **FineAll, layer decay 0.65**: `fineall_learner(..., splitter=timemae_splitter)` (10 groups for the 8-block encoder:
  embeddings, 8 blocks, head), `fit_one_cycle(50, layer_decay(learn, 1e-3, 0.65))`: the head at FineAll's 1e-3, the
  last block at 6.5e-4, ..., the embeddings at 1e-3 x 0.65**9 = 2.1e-5. 0.65 is the decay BEiT, MAE and data2vec use
  for their base models; one value, fixed in advance, so no decay is chosen on the test split.
- **FineAll**: the bench's FineAll again on the same encoder, so the difference is paired by seed on one encoder.
  Its check: it reproduces `lpft.py`'s FineAll rerun where that exists (HAR: the same re-pretrained encoders, which
  are not bit-identical to the committed rows', so the committed FineAll is matched only in part); the report counts
  both.
Decision rule, fixed with the protocol: layer decay becomes the bench's FineAll (and the README's recommendation for
few labels) only if it is above FineAll on the same encoder on average at both fractions of both data sets; issue 15's
goal is then read from `--report`'s margins against the committed baselines.

    python benchmarks/layer_decay.py HAR --cache-dir <the label study's cache> --out benchmarks/ablation/layer_decay.jsonl
    python benchmarks/layer_decay.py HAR --report --out benchmarks/ablation/layer_decay.jsonl

One JSON line per data set, seed, label fraction and row (a row already in `--out` is not run again). The encoders
must be the label study's: none is pretrained here (`timemae bench HAR --methods timemae_linear --tokenizer kmeans
--label-fraction 0.01 0.05 --out-dir D` pretrains them into `D/cache`, and its linear rows must match the committed
ones).
"""
import contextlib
import io
import shutil
import statistics
import tempfile
from pathlib import Path

from jsonl_log import log_record, read_records  # benchmarks/jsonl_log.py
from lpft import (BASELINES, _cell, _fit, goal_margin, label_study_encoder, paired_rows,  # benchmarks/lpft.py
                  run_study, study_main)
from tsai_timemae import bench
from tsai_timemae.evaluate import evaluate_learner
from tsai_timemae.transfer import fineall_learner, layer_decay, timemae_splitter

HERE = Path(__file__).resolve().parent
DECAY = 0.65
LLRD, FINEALL = f'FineAll, layer decay {DECAY:g}', 'FineAll'
ROWS = (LLRD, FINEALL)
COMMITTED = ('timemae_finelast_kmeans', 'timemae_fineall_kmeans', 'timemae_scratch', 'inceptiontimeplus')


def run_seed(ds, dataset: str, seed: int, frac: float, cache_dir, done: set, out):
    """FineAll with layer decay, then FineAll again, for one seed and fraction, from the bench's cached encoder."""
    if all((seed, frac, row) in done for row in ROWS): return
    _, fineall, idx, pre, common, base = label_study_encoder(ds, dataset, seed, frac, cache_dir)
    epochs, lr = fineall.train.epochs, fineall.train.lr
    work = Path(tempfile.mkdtemp(prefix='timemae_llrd_'))
    try:
        for row, extra in ((LLRD, {'splitter': timemae_splitter}), (FINEALL, {})):
            if (seed, frac, row) in done: continue
            with contextlib.redirect_stdout(io.StringIO()):
                learn = fineall_learner(bench.make_dls(ds, fineall.bs, seed, idx), pre['weights'], path=work, **extra, **common)
            rate = layer_decay(learn, lr, DECAY) if row == LLRD else lr
            if row == LLRD:  # embeddings, every block, head: the groups the protocol names
                assert len(learn.splitter(learn.model)) == len(learn.model.backbone.encoder.layers) + 2
            loss = _fit(learn, epochs, rate)
            metrics = evaluate_learner(learn, ds.X_test, ds.y_test)  # the test split, once for this row
            schedule = (f'fit_one_cycle({epochs}, layer_decay(learn, {lr:g}, {DECAY:g})): {len(learn.opt.param_groups)} '
                        f'groups, {rate.start:.3g} to {rate.stop:g}') if row == LLRD else f'fit_one_cycle({epochs}, {lr:g})'
            log_record({**base, 'row': row, 'accuracy': metrics['accuracy'], 'macro_f1': metrics['macro_f1'],
                        'final_train_loss': loss, 'schedule': schedule}, out)
            done.add((seed, frac, row))
            print(f"{ds.name} seed {seed} {100 * frac:g}%: {row}: {100 * metrics['accuracy']:.2f}", flush=True)
    finally: shutil.rmtree(work, ignore_errors=True)


def run(dataset: str, seeds, fractions, cache_dir, out): run_study(run_seed, dataset, seeds, fractions, cache_dir, out)


def report(dataset: str, path, results=HERE / 'results', lpft=HERE / 'ablation' / 'lpft.jsonl') -> str:
    """The new rows per label fraction (seeds that have both), the committed rows of the same seeds, whether the
    FineAll rerun reproduced the committed row and `lpft.py`'s FineAll rerun exactly, issue 15's margin for the layer-decay row (the difference of
    the means against twice the larger standard deviation, ddof 0, as `label_goal.py`) and its paired difference."""
    rerun = {(r['seed'], r['label_fraction']): r['accuracy'] for r in read_records(lpft)
             if r['dataset'] == dataset and r['row'] == 'FineAll'} if Path(lpft).is_file() else {}
    head = ['labels (series)', 'seeds', *ROWS, *(f'{n} (committed)' for n in COMMITTED), 'FineAll = committed FineAll',
            "FineAll = lpft.py's FineAll",
            *(f'layer decay - {b}: difference / 2 x larger std' for b in BASELINES),
            'layer decay - FineAll, per seed (mean)']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for frac, n, seeds, new, old in paired_rows(dataset, path, ROWS, COMMITTED, results):
        fa = old['timemae_fineall_kmeans']
        same = '–' if None in fa else f'{sum(a == b for a, b in zip(new[FINEALL], fa))} of {len(seeds)}'
        ref = [rerun.get((s, frac)) for s in seeds]
        same_lpft = '–' if None in ref else f'{sum(a == b for a, b in zip(new[FINEALL], ref))} of {len(seeds)}'
        margins = []
        for b in BASELINES:
            if None in old[b]: margins.append('–'); continue
            margins.append(goal_margin(new[LLRD], old[b]))
        diffs = [a - b for a, b in zip(new[LLRD], new[FINEALL])]
        paired = ', '.join(f'{100 * d:+.2f}' for d in diffs) + f' ({100 * statistics.fmean(diffs):+.2f})'
        lines.append(f'| {frac:g} ({n}) | {len(seeds)} | ' + ' | '.join(_cell(new[r]) for r in ROWS) + ' | ' +
                     ' | '.join(_cell(old[c]) if None not in old[c] else '–' for c in COMMITTED) +
                     f' | {same} | {same_lpft} | ' + ' | '.join(margins) + f' | {paired} |')
    return '\n'.join(lines)


def main(): study_main(__doc__, HERE / 'ablation' / 'layer_decay.jsonl', run, report)


if __name__ == '__main__':
    main()
