"""Ablation of TimeMAE pretraining settings, scored on validation only (the test split is never read).

Pretrains on a data set's training inputs (plus its validation inputs unless `--train_only`; HAR by default, any
name `load_dataset` knows with `--dataset`), and every `--every` epochs fits a logistic regression (StandardScaler +
LogisticRegression, as the authors' linear evaluation) on the mean-pooled features of the training series and scores
it on the validation series. Epoch 0 is the untrained encoder. With `--cv K` the probe is also scored by stratified
K-fold cross-validation over train + validation: on small sets such as UWave (24 validation series) one validation
series is 4 points, so the cross-validated score is the one to choose by.
The figures quoted in the docstrings of `TimeMAELoss` and in BENCHMARKS.md come from runs of this script, e.g.
    python benchmarks/ablate_pretraining.py --epochs 50 --alpha 5 --beta 1 --tag mcc_weighted
    python benchmarks/ablate_pretraining.py --epochs 50 --alpha 1 --beta 5 --tag mrr_weighted
Each run prints one JSON line at the end; `--out` appends it to a file."""
import argparse, json, time, sys
import numpy as np, torch
from fastai.torch_core import set_seed
from fastai.callback.core import Callback
import fastai.callback.schedule
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tsai.all import TSStandardize, get_ts_dls, ts_learner
from tsai_timemae.all import TimeMAE, TimeMAEPretrain, get_embeddings
from jsonl_log import log_record, read_records  # benchmarks/jsonl_log.py

p = argparse.ArgumentParser()
p.add_argument('--epochs', type=int, default=30); p.add_argument('--every', type=int, default=10)
p.add_argument('--alpha', type=float, default=1.); p.add_argument('--beta', type=float, default=5.)
p.add_argument('--tokenizer', default='codebook'); p.add_argument('--vocab', type=int, default=192)
p.add_argument('--seed', type=int, default=0); p.add_argument('--bs', type=int, default=128)
p.add_argument('--lr', type=float, default=1e-3); p.add_argument('--layers', type=int, default=8)
p.add_argument('--window', type=int, default=8); p.add_argument('--threads', type=int, default=1)
p.add_argument('--n', type=int, default=0, help='pretraining subset size (0 = all train+val)')
p.add_argument('--train_only', action='store_true'); p.add_argument('--tag', default=''); p.add_argument('--sched', default='one_cycle')
p.add_argument('--out', default=''); p.add_argument('--data', default='', help='data root (default: the library default)')
p.add_argument('--dataset', default='HAR'); p.add_argument('--cv', type=int, default=0, help='also score the probe by K-fold CV over train + valid')
p.add_argument('--extra', default='{}', help='json dict of extra TimeMAEPretrain kwargs')
p.add_argument('--summarize', default='', metavar='JSONL', help='print a Markdown table of the runs in JSONL (by tag prefix with --match) and exit')
p.add_argument('--match', default='', help='with --summarize: only tags starting with this')
a = p.parse_args()

def summarize(path, match=''):
    "One Markdown row per run: settings, then the probe score at each probed epoch (CV accuracy where measured)."
    runs = read_records(path)  # a torn line is named, with what to do
    runs = [r for r in runs if r['tag'].startswith(match)]
    key = 'cv_acc' if all('cv_acc' in p for r in runs for p in r['probe']) else 'val_acc'
    print(f'| run | window | vocab | loss weights (MCC, MRR) | tokenizer | seed | epochs | final train MRR | probe {key} by epoch |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in runs:
        a_ = r['args']; probes = ' / '.join(f"{p['epoch']}: {p[key]:.3f}" for p in r['probe'])
        print(f"| {r['tag']} | {a_['window']} | {a_['vocab']} | {a_['alpha']:g}, {a_['beta']:g} | {a_['tokenizer']} | {a_['seed']} | "
              f"{a_['epochs']} | {r['hist'].get('train_mrr', float('nan')):.4f} | {probes} |")

if a.summarize: summarize(a.summarize, a.match); sys.exit()
torch.set_num_threads(a.threads)
from tsai_timemae.data import load_dataset
ds = load_dataset(a.dataset, root=a.data or None)  # validation: from the files, or the harness's stratified split
Xtr, ytr, Xva, yva = ds.X_train.astype(np.float32), ds.y_train, ds.X_valid.astype(np.float32), ds.y_valid
X = Xtr if a.train_only else np.concatenate([Xtr, Xva])
if a.n: X = X[np.random.default_rng(0).permutation(len(X))[:a.n]]
splits = (list(range(len(X))), [])
set_seed(a.seed, reproducible=True)
tfms = [TSStandardize(by_var=True, use_single_batch=False)]
dls = get_ts_dls(X, splits=splits, batch_tfms=tfms, bs=a.bs)
log = []

def probe(learn, epoch):
    t = time.time()
    ftr, fva = get_embeddings(learn, Xtr), get_embeddings(learn, Xva)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(ftr, ytr)
    acc = clf.score(fva, yva)
    row = {'epoch': epoch, 'val_acc': acc}
    if a.cv:
        folds = StratifiedKFold(a.cv, shuffle=True, random_state=0)
        row['cv_acc'] = float(cross_val_score(clf, np.concatenate([ftr, fva]), np.concatenate([ytr, yva]), cv=folds).mean())
    log.append(row); print(f'[{a.tag}] epoch {epoch} probe {row} ({time.time()-t:.0f}s)', flush=True)

class Probe(Callback):
    order = 90
    def after_epoch(self):
        if (self.epoch + 1) % a.every == 0: probe(self.learn, self.epoch + 1)

cb_kw = dict(alpha=a.alpha, beta=a.beta, tokenizer=a.tokenizer, vocab_size=a.vocab)
cb_kw.update(json.loads(a.extra))  # --extra overrides the flags
cb = TimeMAEPretrain(target_dir='/tmp/timemae_ablation', fname=a.tag or 'x', verbose=False, save_best=False, **cb_kw)
learn = ts_learner(dls, TimeMAE, cbs=[cb, Probe()], n_layers=a.layers, window=a.window)
probe(learn, 0)
t0 = time.time()
with learn.no_bar():
    if a.sched == 'one_cycle': learn.fit_one_cycle(a.epochs, a.lr)
    else: learn.fit(a.epochs, a.lr)
line = json.dumps({'tag': a.tag, 'dataset': ds.name, 'args': vars(a), 'probe': log, 'hist': cb.history[-1], 'wall': time.time() - t0})
if a.out: log_record(json.loads(line), a.out)  # prints it too; the file is replaced whole, never left torn
else: print(line, flush=True)
