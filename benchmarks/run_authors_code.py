"""Run the TimeMAE authors' own public code on HAR, several times, to measure its seed spread.

`authors_preset()` scores 90.70 +- 0.59 over 3 seeds against 91.45 for ONE unseeded run of the authors' code
(shared/design/authors_recipe.md): 0.75 below, just outside the issue's 0.7 tolerance. One run of theirs cannot say
whether that is a real difference or the seed spread. This script runs their code again, on the same files, with the
settings of their `run.sh` for HAR, and records the linear evaluation their code prints every 5 epochs.

Nothing of theirs is copied into this project: point `--repo` at your own checkout of
github.com/Mingyue-Cheng/TimeMAE (nothing is downloaded). Their modules are imported as they are, with three
changes made from outside, none of which touches the method:
- their pretraining is run alone (`Trainer.pretrain()`; the 100-epoch fine-tuning that follows in their `main.py`
  is not part of the linear evaluation);
- `torch.set_num_threads` follows `--threads` (their `main.py` asks for 12);
- their probe passes `multi_class='ovr'` to `LogisticRegression`, which current scikit-learn no longer accepts; the
  same probe is built as `OneVsRestClassifier(LogisticRegression(...))` with their other arguments
  (`benchmarks/reproduce_authors.linear_eval`).
Their runs are unseeded on CPU; `--seeds` seeds Python's, NumPy's and torch's generators so a run can be repeated.

    python benchmarks/run_authors_code.py --repo ~/src/TimeMAE --seeds 1 2 --threads 1
    python benchmarks/run_authors_code.py --report

One JSON per run in benchmarks/authors_preset/authors_code/HAR_seed<k>.json."""
import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / 'authors_preset' / 'authors_code'
REFERENCE = 91.45   # their code's unseeded run on this machine kind (shared/design/authors_recipe.md)
RUN_SH = dict(dataset='har', mask_ratio=0.6, vocab_size=192, wave_length=8, beta=1.0, alpha=5.0, layers=8,
              d_model=64, num_epoch_pretrain=100)   # their run.sh for HAR; the rest are their args.py defaults


def run(repo: Path, data: Path, seed: int, threads: int, epochs: int) -> dict:
    import random
    import numpy as np
    import torch
    sys.path.insert(0, str(HERE))
    from reproduce_authors import linear_eval

    class _Probe:                                   # their fit_lr's pipeline, with the one-vs-rest made explicit
        def fit(self, X, y): self.X, self.y = np.asarray(X), np.asarray(y); return self
        def score(self, X, y): return linear_eval(self.X, self.y, np.asarray(X), np.asarray(y))

    settings = dict(RUN_SH, num_epoch_pretrain=epochs)
    work = Path(tempfile.mkdtemp(prefix='timemae_authors_'))
    sys.argv = ['main.py', '--save_path', str(work), '--data_path', f'{data}/', '--device', 'cpu', '--num_epoch', '0',
                *[a for k, v in settings.items() for a in (f'--{k}', str(v))]]
    sys.path.insert(0, str(repo))
    torch.set_num_threads(threads)
    torch.set_num_threads = lambda n: None          # their main.py would ask for 12 threads
    random.seed(seed); np.random.seed(seed); torch.manual_seed(seed)
    import main as their_main                        # noqa: E402  (parses sys.argv and loads the data on import)
    import process
    process.fit_lr = lambda features, y: _Probe().fit(features, y)
    Trainer, TimeMAE, Dataset = process.Trainer, their_main.TimeMAE, their_main.Dataset
    a = their_main.args
    loader = torch.utils.data.DataLoader
    pre = loader(Dataset(device='cpu', mode='pretrain', data=their_main.Train_data_all, wave_len=a.wave_length),
                 batch_size=a.train_batch_size, shuffle=True)
    a.data_shape = pre.dataset.shape()
    lin = loader(Dataset(device='cpu', mode='supervise_train', data=their_main.Train_data, wave_len=a.wave_length),
                 batch_size=a.train_batch_size, shuffle=True)
    test = loader(Dataset(device='cpu', mode='test', data=their_main.Test_data, wave_len=a.wave_length),
                  batch_size=a.test_batch_size)
    t0 = time.time()
    model = TimeMAE(a)                               # the same initialisation for a seed, pretrained or not
    if epochs == 0:                                  # the untrained encoder, through their own probe code
        from classification import get_rep_with_label
        model.eval()
        acc = _Probe().fit(*get_rep_with_label(model, lin)).score(*get_rep_with_label(model, test))
        return collect(work, repo, seed, threads, settings, round(time.time() - t0), [{'epoch': 0, 'test_acc': acc}])
    Trainer(a, model, pre, lin, test, verbose=False).pretrain()
    return collect(work, repo, seed, threads, settings, wall_s=round(time.time() - t0))


def read_probes(work: Path) -> list[dict]:
    "The linear evaluations their `Trainer.pretrain` wrote to `linear_result.txt`, one line `epoch<i>, acc<a>` each."
    probes = [{'epoch': int(m[1]) + 1, 'test_acc': float(m[2])}       # their file numbers epochs from 0
              for m in map(re.compile(r'epoch(\d+),\s*acc([\d.]+)').match, (work / 'linear_result.txt').read_text().splitlines())
              if m]
    if not probes: raise ValueError(f'{work / "linear_result.txt"} holds no line like "epoch99, acc0.91": not a run of '
                                    'their pretraining, or one that did not reach its first evaluation (epoch 5)')
    return probes


def collect(work: Path, repo: Path, seed: int, threads: int, settings: dict, wall_s=None, probes=None) -> dict:
    "One run's record from the folder their code wrote (`--save_path`), or from `probes` given."
    from tsai_timemae.bench import environment
    probes = probes or read_probes(work)
    return {'dataset': 'HAR', 'seed': seed, 'repo_commit': _commit(repo), 'settings': settings,
            'threads': threads, 'probes': probes, 'test_acc_final': probes[-1]['test_acc'] * 100,
            'epochs_run': probes[-1]['epoch'], 'wall_s': wall_s, 'environment': environment()}


def _commit(repo: Path) -> str:
    import subprocess
    r = subprocess.run(['git', '-C', str(repo), 'rev-parse', 'HEAD'], capture_output=True, text=True)
    return r.stdout.strip() or 'unknown'


def report() -> str:
    """The runs of their code as a Markdown section. The summary averages the seeded runs whose JSON files are here
    (std over runs, ddof 0, as every table in this project); the unseeded reference run has no file here, so it is
    shown as a cited row and kept out of the mean."""
    import numpy as np
    runs = [r for p in sorted(OUT.glob('HAR_seed*.json')) if (r := json.loads(p.read_text())).get('epochs_run') == 100]
    if not runs: return 'no runs of the authors\' code yet\n'
    untrained = {r['seed']: r['test_acc_final'] for p in OUT.glob('HAR_seed*_0ep.json')
                 if (r := json.loads(p.read_text()))['seed'] in {run['seed'] for run in runs}}
    acc = np.array([r['test_acc_final'] for r in runs])
    lines = ['## The authors\' code itself, run again here', '',
             'Generated by `python benchmarks/run_authors_code.py --report` from the JSON files in `authors_code/`. '
             'Their public code with the settings of their `run.sh` for HAR, on the same files, one thread, pretraining '
             'only; their linear evaluation of the test split as their code prints it every 5 epochs (the epoch-100 '
             'figure is the one compared). The untrained encoder is their model with the same seed, before its first '
             'step, scored by the same probe (`--epochs 0`). Run with `python benchmarks/run_authors_code.py --repo '
             '<your checkout> --seeds ' + ' '.join(str(r['seed']) for r in runs) + '` (and again with `--epochs 0`).', '',
             '| run | untrained encoder | epoch 100 | epochs 10 · 30 · 50 · 70 · 90 |', '|---|---|---|---|']
    for r in runs:
        traj = ' · '.join(f"{p['test_acc'] * 100:.1f}" for p in r['probes'] if p['epoch'] % 20 == 10)
        u = untrained.get(r['seed'])
        lines.append(f"| seed {r['seed']} | {'–' if u is None else f'{u:.2f}'} | {r['test_acc_final']:.2f} | {traj} |")
    lines += [f'| unseeded, cited (shared/design/authors_recipe.md; no file here) | – | {REFERENCE:.2f} | '
              '69.9 · 79.4 · 86.9 · 90.1 · 91.2 |', '',
              f'The {len(acc)} seeded runs above: **{acc.mean():.2f} ± {acc.std():.2f}** (min {acc.min():.2f}, '
              f'max {acc.max():.2f})' + (f'; their untrained encoder {np.mean(list(untrained.values())):.2f} ± '
                                        f'{np.std(list(untrained.values())):.2f} over the same seeds' if untrained else '')
              + f'. The cited unseeded run ({REFERENCE:.2f}) is issue 14\'s reference and is not in this mean.']
    return '\n'.join(lines) + '\n'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--repo', type=Path, help='a checkout of github.com/Mingyue-Cheng/TimeMAE')
    p.add_argument('--data', type=Path, default=None, help='folder with train.pt, val.pt, test.pt '
                   '(default: $TIMEMAE_DATA/HAR)')
    p.add_argument('--seeds', type=int, nargs='+', default=[1])
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--epochs', type=int, default=100, help='their run.sh: 100')
    p.add_argument('--report', action='store_true', help='print the table of the runs in ' + str(OUT))
    p.add_argument('--collect', type=Path, help='record a finished run from the folder their code wrote '
                   '(its --save_path, with linear_result.txt) instead of running one; --seeds names it')
    args = p.parse_args(argv)
    if args.report: print(report(), end=''); return
    if args.repo is None or not (args.repo / 'process.py').exists():
        p.error('--repo must be a checkout of github.com/Mingyue-Cheng/TimeMAE (it has process.py); '
                'clone it yourself, this script downloads nothing')
    from tsai_timemae.bench import write_json_atomic
    name = f'HAR_seed{args.seeds[0]}' + ('' if args.epochs == 100 else f'_{args.epochs}ep')
    if args.collect:
        res = collect(args.collect, args.repo.resolve(), args.seeds[0], args.threads, dict(RUN_SH, num_epoch_pretrain=args.epochs))
        if res['epochs_run'] != args.epochs:
            p.error(f"{args.collect} ends at epoch {res['epochs_run']}, not {args.epochs}: an unfinished run")
        OUT.mkdir(parents=True, exist_ok=True)
        write_json_atomic(res, OUT / f'{name}.json')
        print(f"seed {args.seeds[0]}: {res['test_acc_final']:.2f} after {args.epochs} epochs (collected)")
        return
    data = args.data or Path(os.environ.get('TIMEMAE_DATA', '')) / 'HAR'
    if not (data / 'train.pt').exists():
        p.error(f'{data} has no train.pt: pass --data or set TIMEMAE_DATA to the folder that holds HAR/')
    if len(args.seeds) > 1:                          # their modules read args at import: one process per run
        import subprocess
        for s in args.seeds:
            subprocess.run([sys.executable, __file__, '--repo', str(args.repo), '--data', str(data), '--seeds', str(s),
                            '--threads', str(args.threads), '--epochs', str(args.epochs)], check=True)
        return
    res = run(args.repo.resolve(), data.resolve(), args.seeds[0], args.threads, args.epochs)
    OUT.mkdir(parents=True, exist_ok=True)
    write_json_atomic(res, OUT / f'{name}.json')
    print(f"seed {args.seeds[0]}: {res['test_acc_final']:.2f} after {args.epochs} epochs ({res['wall_s']} s)")


if __name__ == '__main__':
    main()
