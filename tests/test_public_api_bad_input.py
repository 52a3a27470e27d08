"""The public API against bad input, as a table (issue 17): `TimeMAE`, `TimeMAEPretrain` (through
`ts_learner(..., cbs=TimeMAEPretrain(...))`), `finelast_learner` / `fineall_learner`, `get_embeddings`, the sktime
estimators and the `timemae` commands, each given wrong rank, dtype, channels, lengths, empty data, one series, one
class, missing labels, unseen labels, unequal lengths, pandas input, missing and corrupt files.

Every row ends in either a documented, correct result (`ok(check)`) or an error whose message names the problem and
the fix (`fails(type, pattern)`); after every row, no half-written file (an atomic write's `.tmp`) is left behind.
Models are tiny and epochs 1: the whole table runs in about a minute on one CPU thread."""
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from tsai.data.core import TSClassification, TSMultiLabelClassification, get_ts_dls
from tsai.data.preprocessing import TSStandardize
from tsai.learner import ts_learner

from tsai_timemae.all import (TimeMAE, TimeMAEPretrain, evaluate_learner, fineall_learner, finelast_learner, flatten_probe_head,
                              get_embeddings, plot_embeddings, predict_labels, save_encoder_weights, timemae_learner)
from tsai_timemae.bench import RESULT_SCHEMA, run_benchmark
from tsai_timemae.demo import run_demo
from tsai_timemae.sktime import TimeMAEClassifier, TimeMAETransformer

ARCH = dict(window=4, d_model=8, n_layers=1, n_heads=1, d_ff=16)
NO_HEADS = {k: v for k, v in ARCH.items() if k != 'n_heads'}
SK = dict(ARCH, vocab_size=8, n_decoder_layers=1, pretrain_epochs=1, finetune_epochs=1, batch_size=4, random_state=0)
PRE = dict(vocab_size=8, n_decoder_layers=1, checkpoint='last', verbose=False)
SPLITS = (list(range(12)), list(range(12, 16)))
rng = np.random.default_rng(0)
X = rng.standard_normal((16, 3, 40)).astype('float32')
Y = np.array(list('abcd') * 4)


# -- how a row says what must happen -------------------------------------------------------------------------------
@dataclass
class ok:
    "A documented, correct result: `check(result)` holds."
    check: Callable = lambda r: True


@dataclass
class fails:
    "An error of `type` whose message matches `pattern` (the problem and the fix)."
    type: type
    pattern: str


@dataclass
class warns:
    "A documented result that comes with a UserWarning matching `pattern` (a likely mistake that still runs)."
    pattern: str
    check: Callable = lambda r: True


# -- helpers the rows use ----------------------------------------------------------------------------------------------
def dls(X, y=None, bs=4, splits=SPLITS, tfms=None):
    tfms = [TSStandardize(by_var=True)] if tfms is None else tfms
    if y is None: return get_ts_dls(X, splits=splits, batch_tfms=tfms, bs=bs)
    return get_ts_dls(X, y, splits=splits, tfms=[None, TSClassification()], batch_tfms=tfms, bs=bs)


def multi_labels(y):
    "Several labels per series, as tsai's TSMultiLabelClassification takes them: an object array of lists."
    out = np.empty(len(y), dtype=object)
    for i, v in enumerate(y): out[i] = [v] if i % 2 else [v, 'z']
    return out


def fit(learn, epochs=1, lr=1e-3):
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr)
    return learn


def pretrain(X, tmp, y=None, **kw):
    "TimeMAE pretraining as a tsai user writes it; returns the callback (its `weights_path`)."
    cb = TimeMAEPretrain(target_dir=tmp, **{**PRE, **kw})
    fit(ts_learner(dls(X, y), TimeMAE, cbs=cb, **ARCH))
    return cb


def with_nan(X):
    X = X.copy(); X[2, 1, 7] = np.nan
    return X


def nested(X, ragged=False):
    "sktime's nested pandas DataFrame; with `ragged`, the first series is shorter."
    from sktime.datatypes import convert_to
    df = convert_to(X, 'nested_univ')
    if ragged:
        for c in df.columns: df.at[df.index[0], c] = df.at[df.index[0], c].iloc[:30]
    return df


def multiindex(X):
    "sktime's pd-multiindex Panel: one row per (series, time step)."
    from sktime.datatypes import convert_to
    return convert_to(X, 'pd-multiindex')


def bare_state_dict(path, **arch):
    "What fastai's `learn.save` writes: the model's state_dict, without the settings TimeMAEPretrain stores."
    torch.save(TimeMAE(3, None, **{**ARCH, **arch}).state_dict(), path)
    return path


def at_home(path, name):
    "Copy `path` into $HOME (the test's own folder) and return its `~/name` spelling."
    import shutil
    shutil.copy(path, Path.home() / name)
    return f'~/{name}'


def preds(learn, X):
    with learn.no_bar(): return learn.get_X_preds(X, with_decoded=False)[0]


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    "An encoder file for 3-channel series (window 4, d_model 8), as TimeMAEPretrain saves it, and one with a short table."
    d = tmp_path_factory.mktemp('weights')
    save_encoder_weights(TimeMAE(3, None, max_seq_len=32, **ARCH), d / 'short.pth')
    return save_encoder_weights(TimeMAE(3, None, **ARCH), d / 'enc.pth')


@pytest.fixture(scope='module')
def clf():
    return TimeMAEClassifier(**SK).fit(X, Y)


@pytest.fixture(scope='module')
def learner(weights):
    "A FineAll learner on 3-channel labelled data."
    return fit(fineall_learner(dls(X, Y), weights))


def model(): return TimeMAE(3, 4, **ARCH).eval()


def exported(learn, path):
    "The learner as `learn.export()` pickles it (a whole fastai Learner, not a state_dict)."
    learn.path = path.parent
    learn.export(path.name)
    return path


# -- the table: (entry point, input, what must happen) ------------------------------------------------------------
# each row's function gets `ctx` with the fixtures: ctx.weights, ctx.clf, ctx.learner, ctx.tmp
T = torch.from_numpy(X)
ROWS = [
    # TimeMAE, the architecture
    ('TimeMAE', 'a size given as text', lambda c: TimeMAE(3, 4, **{**ARCH, 'd_model': '8'}),
     fails(TypeError, r"d_model must be a whole number, got '8' \(str\)\. Pass d_model=8\.")),
    ('TimeMAE', 'n_heads None without a weights file', lambda c: TimeMAE(3, 4, **{**ARCH, 'n_heads': None}),
     fails(TypeError, r'n_heads must be a whole number, got None')),
    ('TimeMAE', 'a rate given as text', lambda c: TimeMAE(3, 4, **{**ARCH, 'dropout': '0.1'}),
     fails(TypeError, r"dropout must be a number, got '0.1'.*Pass dropout=0.1")),
    ('TimeMAE', '2-D batch', lambda c: model()(T[:, 0]), fails(ValueError, r'3-D.*x\[:, None\]')),
    ('TimeMAE', '4-D batch', lambda c: model()(T[..., None]), fails(ValueError, r'3-D batch')),
    ('TimeMAE', 'numpy array', lambda c: model()(X), fails(TypeError, r'torch.Tensor.*as_tensor.*get_X_preds')),
    ('TimeMAE', 'complex dtype', lambda c: model()(T.to(torch.complex64)), fails(TypeError, r'real values.*abs')),
    ('TimeMAE', 'float16 dtype', lambda c: model()(T.half()), ok(lambda r: r.shape == (16, 4))),
    ('TimeMAE', 'int64 dtype', lambda c: model()(T.long()), ok(lambda r: r.shape == (16, 4))),
    ('TimeMAE', 'wrong channels', lambda c: model()(T[:, :2]), fails(ValueError, r'c_in=3 .*has 2.*c_in=2')),
    ('TimeMAE', 'shorter than a window', lambda c: model()(T[..., :3]), fails(ValueError, r'shorter than one window.*window <= 3')),
    ('TimeMAE', 'longer than max_seq_len', lambda c: TimeMAE(3, 4, max_seq_len=32, **ARCH)(T),
     fails(ValueError, r'exceeds max_seq_len=32.*max_seq_len>=40')),
    ('TimeMAE', 'other lengths', lambda c: [model()(T[..., :n]).shape for n in (4, 37, 400)],
     ok(lambda r: r == [(16, 4)] * 3)),
    ('TimeMAE', 'empty batch', lambda c: model()(T[:0]), fails(ValueError, r'empty.*at least one series')),
    ('TimeMAE', 'one series', lambda c: model()(T[:1]), ok(lambda r: r.shape == (1, 4))),
    ('TimeMAE', 'NaN values', lambda c: model()(torch.from_numpy(with_nan(X))), fails(ValueError, r'NaN or inf.*TSNan2Value')),
    ('TimeMAE', 'd_model not divisible by n_heads', lambda c: TimeMAE(3, 4, d_model=10, n_heads=4),
     fails(ValueError, r'd_model=10 must be divisible by n_heads=4')),
    ('TimeMAE', 'no heads (torch would divide by zero)', lambda c: TimeMAE(3, 4, n_heads=0),
     fails(ValueError, r'sizes must be at least 1: n_heads=0')),
    ('TimeMAE', 'no blocks (torch builds it and fails at the first batch)', lambda c: TimeMAE(3, 4, n_layers=0, d_ff=-1),
     fails(ValueError, r'sizes must be at least 1: n_layers=0, d_ff=-1')),

    # TimeMAEPretrain, from the outside: ts_learner(..., cbs=TimeMAEPretrain(...))
    ('TimeMAEPretrain', 'unlabelled data', lambda c: pretrain(X, c.tmp), ok(lambda cb: Path(cb.weights_path).is_file())),
    ('TimeMAEPretrain', 'no task: alpha=0 and beta=0', lambda c: TimeMAEPretrain(alpha=0, beta=0),
     fails(ValueError, r'alpha=0 and beta=0 leave no pretraining task.*beta=0 for MCC alone')),
    ('TimeMAEPretrain', 'a negative loss weight', lambda c: TimeMAEPretrain(beta=-1),
     fails(ValueError, r'loss weights must be 0 or more.*-1')),
    ('TimeMAEPretrain', 'a NaN loss weight (passes every < check: NaN losses, a NaN encoder saved)',
     lambda c: TimeMAEPretrain(alpha=float('nan')), fails(ValueError, r'alpha must be a finite number, got nan')),
    ('TimeMAEPretrain', 'an infinite collapse threshold (a false collapse warning)',
     lambda c: TimeMAEPretrain(collapse_threshold=float('inf')), fails(ValueError, r'collapse_threshold must be a finite number')),
    ('TimeMAE', 'a NaN dropout', lambda c: TimeMAE(3, 4, dropout=float('nan')), fails(ValueError, r'dropout must be a finite number')),
    ('TimeMAEPretrain', 'an empty file name (a hidden models/.pth)', lambda c: TimeMAEPretrain(fname=''),
     fails(ValueError, r'fname names the encoder file.*target_dir= chooses the folder')),
    ('TimeMAEPretrain', 'an empty folder (the encoder went to the current folder)', lambda c: TimeMAEPretrain(target_dir=''),
     fails(ValueError, r"target_dir is the folder the encoder file goes to .*got ''")),
    ('TimeMAEPretrain', 'a folder that is no path (os.fspath\'s TypeError named no setting)',
     lambda c: TimeMAEPretrain(target_dir=123), fails(ValueError, r'target_dir is the folder .*got 123')),
    ('TimeMAEPretrain', 'fname=None (None.pth)', lambda c: TimeMAEPretrain(fname=None),
     fails(ValueError, r'fname names the encoder file .*got None')),
    ('TimeMAEPretrain', 'a number as fname (1.pth, as before)', lambda c: TimeMAEPretrain(fname=1, target_dir=c.tmp),
     ok(lambda cb: cb.fname == '1')),
    ('TimeMAEPretrain', 'labelled data (labels ignored)', lambda c: pretrain(X, c.tmp, Y),
     ok(lambda cb: Path(cb.weights_path).is_file())),
    ('TimeMAEPretrain', 'float16 data', lambda c: pretrain(X.astype('float16'), c.tmp),
     ok(lambda cb: np.isfinite(cb.history[-1]['train_loss']))),
    ('TimeMAEPretrain', 'predictions of the pretraining learner are its pretraining outputs',
     lambda c: preds(fit(ts_learner(dls(X), TimeMAE, cbs=TimeMAEPretrain(target_dir=c.tmp, **PRE), **ARCH)), X[:5]),
     ok(lambda p: p['masked_reps'].shape[0] == 5 and p['masked_reps'].shape[-1] == 8)),
    ('get_embeddings', 'an encoder file instead of a model', lambda c: get_embeddings(str(c.weights), X[:2]),
     fails(TypeError, r'got str\. For an encoder file, load it first: get_embeddings\(TimeMAE\.from_pretrained\(path\), X, \.\.\.\)')),
    ('plot_embeddings', 'a block other than the last says which in its title',
     lambda c: [plot_embeddings(model(), X, Y, layer=k)[1].get_title() for k in (1, 0, -1)],
     ok(lambda t: [x[x.index('(d='):] for x in t] == ['(d=8, block 1)', '(d=8, embeddings)', '(d=8, block 1)'])),
    ('TimeMAEPretrain', 'features of the pretraining learner: get_embeddings',
     lambda c: get_embeddings(fit(ts_learner(dls(X), TimeMAE, cbs=TimeMAEPretrain(target_dir=c.tmp, **PRE), **ARCH)), X[:5]),
     ok(lambda p: p.shape == (5, 8))),
    ('TimeMAEPretrain', 'NaN values (nothing saved)', lambda c: pretrain(with_nan(X), c.tmp),
     fails(ValueError, r'NaN or inf.*impute')),
    ('TimeMAEPretrain', 'fewer series than the batch size (tsai makes the batch smaller)',
     lambda c: fit(ts_learner(dls(X[:6], bs=8, splits=(list(range(5)), [5])), TimeMAE, cbs=TimeMAEPretrain(target_dir=c.tmp, **PRE), **ARCH)),
     ok(lambda learn: learn.dls.train.bs == 5 and np.isfinite(learn.recorder.values[-1][0]))),
    ('TimeMAEPretrain', 'one window per series', lambda c: pretrain(X[..., :4], c.tmp),
     fails(ValueError, r'at least 2 patches.*4 steps make 1 with a window of 4: pass window=2 ')),
    ('TimeMAEPretrain', 'series shorter than a window', lambda c: pretrain(X[..., :3], c.tmp),
     fails(ValueError, r'shorter than one window.*window <= 3')),
    ('TimeMAEPretrain', 'momentum_end below momentum', lambda c: TimeMAEPretrain(momentum=0.99, momentum_end=0.5),
     fails(ValueError, r'momentum_end=0.5 is below momentum=0.99.*raises the momentum.*at least 0.99')),
    ('TimeMAEPretrain', 'mask_ratio 1', lambda c: TimeMAEPretrain(mask_ratio=1.), fails(ValueError, r'mask_ratio.*between 0 and 1')),
    ('TimeMAEPretrain', 'vocab_size 1', lambda c: TimeMAEPretrain(vocab_size=1), fails(ValueError, r'vocab_size.*at least 2')),
    ('TimeMAEPretrain', 'another architecture', lambda c: ts_learner(dls(X), 'InceptionTimePlus', cbs=TimeMAEPretrain()),
     fails(TypeError, r'needs a TimeMAE model.*ts_learner\(dls, TimeMAE')),
    ('TimeMAEPretrain', 'one series',
     lambda c: fit(ts_learner(dls(X[:1], bs=1, splits=([0], [0])), TimeMAE, cbs=TimeMAEPretrain(target_dir=c.tmp, **PRE), **ARCH)),
     ok(lambda learn: np.isfinite(learn.recorder.values[-1][0]))),

    ('TimeMAEPretrain', 'mask_ratio given as text', lambda c: TimeMAEPretrain(mask_ratio='0.6'),
     fails(TypeError, r"mask_ratio must be a number, got '0.6'.*Pass mask_ratio=0.6")),
    ('TimeMAEPretrain', 'vocab_size 8.0', lambda c: TimeMAEPretrain(vocab_size=8.0),
     fails(TypeError, r'vocab_size must be a whole number, got 8.0 \(float\)\. Pass vocab_size=8')),
    ('TimeMAEPretrain', 'n_decoder_layers 0', lambda c: TimeMAEPretrain(n_decoder_layers=0),
     fails(ValueError, r'n_decoder_layers must be at least 1.*decoupled=False')),
    ('TimeMAEPretrain', "another tokenizer's option", lambda c: TimeMAEPretrain(tokenizer='gumbel', tokenizer_kwargs={'temperature': .1}),
     fails(ValueError, r"\['temperature'\] are not options of the 'gumbel' tokenizer, whose options are \['tau'\]")),
    ('TimeMAEPretrain', 'a misspelt tokenizer option', lambda c: TimeMAEPretrain(tokenizer_kwargs={'max_fit_patch': 100}),
     fails(ValueError, r"\['max_fit_patch'\] are not options of the 'kmeans' tokenizer.*max_fit_patches")),
    ('TimeMAEPretrain', "fname ending in '.pth'", lambda c: pretrain(X, c.tmp, fname='enc.pth').weights_path,
     ok(lambda p: p.name == 'enc.pth' and p.is_file())),
    ('TimeMAEPretrain', "target_dir under '~'", lambda c: (pretrain(X, '~/enc_dir').weights_path, Path('~').exists()),
     ok(lambda r: r[0] == Path.home() / 'enc_dir' / 'timemae_encoder.pth' and r[0].is_file() and not r[1])),

    # finelast_learner / fineall_learner
    ('finelast_learner', 'weights_path None (nothing pretrained yet)', lambda c: finelast_learner(dls(X, Y), TimeMAEPretrain().weights_path),
     fails(ValueError, r'finelast_learner got weights_path=None.*stays None until a fit has saved.*timemae_learner\(dls\)')),
    ('fineall_learner', 'weights_path None', lambda c: fineall_learner(dls(X, Y), None),
     fails(ValueError, r'fineall_learner got weights_path=None')),
    ('finelast_learner', 'the pretraining DataLoaders (no labels)', lambda c: finelast_learner(dls(X), c.weights),
     fails(ValueError, r'finelast_learner fine-tunes a classifier.*no labels.*get_ts_dls\(X, y.*get_embeddings\(learn, X\).*get_embeddings\(TimeMAE.from_pretrained\(weights_path\), X\) with X standardized')),
    ('fineall_learner', 'the pretraining DataLoaders (no labels)', lambda c: fineall_learner(dls(X), c.weights),
     fails(ValueError, r'fineall_learner fine-tunes a classifier.*no labels')),
    ('finelast_learner', 'the pretraining callback instead of its file', lambda c: finelast_learner(dls(X, Y), TimeMAEPretrain()),
     fails(TypeError, r'weights_path must be the path of a pretrained encoder file, got an object of type TimeMAEPretrain.*\.weights_path')),
    ('fineall_learner', 'a learner instead of a file', lambda c: fineall_learner(dls(X, Y), c.learner),
     fails(TypeError, r'of type Learner.*time_mae_pretrain\.weights_path.*save_encoder_weights\(learn\.model')),
    ('finelast_learner', 'a model instead of a file', lambda c: finelast_learner(dls(X, Y), model()),
     fails(TypeError, r'of type TimeMAE:.*save_encoder_weights\(model')),
    ('finelast_learner', 'the arguments swapped', lambda c: finelast_learner(c.weights, dls(X, Y)),
     fails(TypeError, r'of type TSDataLoaders.*swapped.*finelast_learner\(dls, weights_path\)')),
    ('finelast_learner', 'a fitted sktime estimator instead of a file', lambda c: finelast_learner(dls(X, Y), c.clf),
     fails(TypeError, r'of type TimeMAEClassifier: save its encoder first, save_encoder_weights\(est\.learn_\.model')),
    ('fineall_learner', 'the arguments swapped', lambda c: fineall_learner(c.weights, dls(X, Y)),
     fails(TypeError, r'swapped.*fineall_learner\(dls, weights_path\)')),
    ('timemae_learner', 'whole-number labels without TSClassification',
     lambda c: timemae_learner(get_ts_dls(X, np.arange(16) % 4, splits=SPLITS, batch_tfms=[TSStandardize(by_var=True)], bs=4), c.weights),
     warns(r'labels are whole numbers.*TSClassification\(\)')),
    ('TimeMAE.from_pretrained', 'a number instead of a file', lambda c: TimeMAE.from_pretrained(3),
     fails(TypeError, r'got an object of type int.*path \(str or pathlib\.Path\)')),
    ('finelast_learner', 'whole-number labels without TSClassification (tsai makes it a regression)',
     lambda c: finelast_learner(get_ts_dls(X, np.arange(16) % 4, splits=SPLITS, batch_tfms=[TSStandardize(by_var=True)], bs=4), c.weights),
     warns(r'labels are whole numbers.*regression.*TSClassification\(\)', lambda learn: learn.dls.c == 1)),
    ('finelast_learner', 'whole-number float labels (as read from a CSV file) without TSClassification',
     lambda c: finelast_learner(get_ts_dls(X, (np.arange(16) % 4).astype(float), splits=SPLITS, batch_tfms=[TSStandardize(by_var=True)], bs=4), c.weights),
     warns(r'labels are whole numbers.*TSClassification\(\)', lambda learn: learn.dls.c == 1)),
    ('fineall_learner', 'float regression targets without a label transform (not whole numbers: no warning)',
     lambda c: fineall_learner(get_ts_dls(X, np.linspace(0, 1, 16), splits=SPLITS, batch_tfms=[TSStandardize(by_var=True)], bs=4), c.weights),
     ok(lambda learn: learn.dls.c == 1)),
    ('fineall_learner', 'whole-number labels with TSClassification', lambda c: fineall_learner(dls(X, np.arange(16) % 4), c.weights),
     ok(lambda learn: learn.dls.c == 4)),
    ('finelast_learner', 'series shorter than the pretrained window',
     lambda c: finelast_learner(dls(X[..., :3], Y), c.weights),
     fails(ValueError, r'seq_len=3 is shorter than one window \(4 steps\).*pad the series to at least 4 steps.*reinit="patch_embed", window=3\)')),
    ('finelast_learner', "series shorter than the pretrained window, reinit='patch_embed' and a smaller window",
     lambda c: (lambda learn: (learn.model.backbone.window, preds(learn, X[:2, :, :3])))(
         finelast_learner(dls(X[..., :3], Y), c.weights, reinit='patch_embed', window=2)),
     ok(lambda r: r[0] == 2 and tuple(r[1].shape) == (2, len(set(Y))) and torch.isfinite(r[1]).all())),
    ('finelast_learner', 'n_heads None: the file says', lambda c: finelast_learner(dls(X, Y), c.weights, n_heads=None),
     ok(lambda learn: learn.model.backbone.config['n_heads'] == ARCH['n_heads'])),
    ('finelast_learner', "a path under '~'", lambda c: finelast_learner(dls(X, Y), at_home(c.weights, 'enc.pth')),
     ok(lambda learn: learn.model.backbone.config['d_model'] == ARCH['d_model'])),
    ('finelast_learner', 'a fastai checkpoint (no stored settings)', lambda c: finelast_learner(dls(X, Y), bare_state_dict(c.tmp / 'ck.pth')),
     warns(r'ck.pth stores no architecture settings.*assuming n_heads=4, pre_norm=False.*pass n_heads=, pre_norm=',
           lambda learn: learn.model.backbone.config['n_heads'] == 4)),
    ('finelast_learner', 'a fastai checkpoint, n_heads given', lambda c: finelast_learner(dls(X, Y), bare_state_dict(c.tmp / 'ck.pth'), n_heads=1, pre_norm=False),
     ok(lambda learn: learn.model.backbone.config['n_heads'] == 1)),
    ('ts_learner', 'weights_path without pretrained=True', lambda c: ts_learner(dls(X, Y), TimeMAE, weights_path=c.weights, **ARCH),
     warns(r'is not loaded without pretrained=True.*starts untrained')),
    ('ts_learner', 'pretrained=True, a fastai checkpoint', lambda c: ts_learner(dls(X, Y), TimeMAE, pretrained=True, weights_path=bare_state_dict(c.tmp / 'ck.pth', n_heads=4), **NO_HEADS),
     warns(r'stores no architecture settings.*assuming n_heads=4, pre_norm=False')),
    ('ts_learner', "a transfer learner's option (reinit=)",  # a bare "unexpected keyword argument" before
     lambda c: ts_learner(dls(X[:, :2], Y), TimeMAE, pretrained=True, weights_path=c.weights, reinit='patch_embed'),
     fails(TypeError, r"reinit is an option of the transfer learners.*fineall_learner\(dls, weights_path, \.\.\.\)")),
    ('TimeMAE.from_pretrained', "a transfer learner's option (layer=)", lambda c: TimeMAE.from_pretrained(c.weights, layer=1),
     fails(TypeError, r'layer is an option of the transfer learners, not of the TimeMAE model that from_pretrained builds')),
    ('ts_learner', "transfer learners' options in arch_config", lambda c: ts_learner(dls(X, Y), TimeMAE, arch_config=dict(layer=1, freeze_encoder=True)),
     fails(TypeError, r'layer, freeze_encoder are options of the transfer learners.*timemae_learner')),
    ('save_encoder_weights', 'a folder as the path', lambda c: save_encoder_weights(model(), c.tmp),
     fails(IsADirectoryError, r'is a folder, not a file name')),
    ('TimeMAE.from_pretrained', 'the folder pretraining saved into, not its file',
     lambda c: [_raises(lambda: TimeMAE.from_pretrained(c.weights.parent)), _raises(lambda: finelast_learner(dls(X, Y), c.tmp))],
     ok(lambda r: "is a folder, not a weights file: pass a file inside it, e.g. '" in r[0] and 'enc.pth, short.pth' in r[0]
        and 'neither it nor its subfolders hold a .pth file' in r[1])),
    ('fineall_learner', "a folder whose .pth files are in a subfolder (a run's folder)",
     lambda c: _raises(lambda: fineall_learner(dls(X, Y), (lambda d: (d / 'run1').mkdir(parents=True) or save_encoder_weights(model(), d / 'run1' / 'enc.pth') and d)(c.tmp / 'runs'))),
     ok(lambda m: "is a folder, not a weights file" in m and "e.g. '" in m and "run1/enc.pth'" in m)),
    ('TimeMAE.from_pretrained', 'a whole pickled model (torch.save(model))',  # its advice named a format that loses n_heads
     lambda c: TimeMAE.from_pretrained((lambda p: torch.save(model(), p) or p)(c.tmp / 'whole.pth')),
     fails(ValueError, r'never unpickled.*`save_encoder_weights\(model, path\)`: it stores the architecture.*loses n_heads and pre_norm')),
    ('finelast_learner', 'missing weights file', lambda c: finelast_learner(dls(X, Y), c.tmp / 'nope.pth'),
     fails(FileNotFoundError, r'No weights file.*TimeMAEPretrain saved')),
    ('finelast_learner', "a learner saved by learn.export()", lambda c: finelast_learner(dls(X, Y), exported(c.learner, c.tmp / 'l.pkl')),
     fails(ValueError, r'not a torch state_dict.*fastai.learner.Learner.*learn.export\(\).*load_learner\(path\).*save_encoder_weights')),
    ('fineall_learner', 'corrupt weights file', lambda c: fineall_learner(dls(X, Y), write(c.tmp / 'bad.pth', b'\x00' * 99)),
     fails(ValueError, r'truncated, corrupt or not a torch state_dict.*Re-run pretraining')),
    ('finelast_learner', 'wrong channels for the encoder', lambda c: finelast_learner(dls(X[:, :2], Y), c.weights),
     fails(ValueError, r'does not fit.*saved from: c_in=3.*has: +c_in=2.*pretrained on series with 3 channels.*same order')),
    ('fineall_learner', 'longer series than the encoder was pretrained for',
     lambda c: fineall_learner(dls(X, Y), c.weights.parent / 'short.pth'),
     fails(ValueError, r'up to 32 steps and this model was built for 40.*crop or downsample.*max_seq_len>=40')),
    ('finelast_learner', 'max_seq_len passed that the file contradicts',
     lambda c: finelast_learner(dls(X, Y), c.weights, max_seq_len=16384),
     fails(ValueError, r'built for 16384 \(max_seq_len, passed or sized from longer series\)\. If max_seq_len was passed, leave it out')),
    ('finelast_learner', "tsai's pretrained= switch", lambda c: finelast_learner(dls(X, Y), c.weights, pretrained=True),
     fails(ValueError, r"pretrained= is ts_learner's switch.*leave pretrained out")),
    ('finelast_learner', 'freeze_encoder it decides itself', lambda c: finelast_learner(dls(X, Y), c.weights, freeze_encoder=False),
     fails(ValueError, r'finelast_learner decides freeze_encoder itself.*timemae_learner\(dls, weights_path, freeze_encoder')),
    ('fineall_learner', 'freeze_encoder it decides itself', lambda c: fineall_learner(dls(X, Y), c.weights, freeze_encoder=True),
     fails(ValueError, r'fineall_learner decides freeze_encoder itself')),
    ('finelast_learner', 'fc_dropout its linear head has no use for', lambda c: finelast_learner(dls(X, Y), c.weights, fc_dropout=0.5),
     fails(ValueError, r'linear_probe_head.*has no dropout, so fc_dropout would be ignored')),
    ('finelast_learner', 'NaN labels', lambda c: finelast_learner(dls(X, np.where(np.arange(16) == 3, np.nan, np.arange(16.) % 4)), c.weights),
     fails(ValueError, r'labels are missing.*positions \[3\].*Drop')),
    ('fineall_learner', 'NaN values', lambda c: fit(fineall_learner(dls(with_nan(X), Y), c.weights)),
     fails(ValueError, r'NaN or inf.*impute')),
    ('finelast_learner', 'one class', lambda c: preds(fit(finelast_learner(dls(X, np.array(['a'] * 16)), c.weights)), X[:3]),
     ok(lambda p: p.shape == (3, 1))),
    # the head's BatchNorm refused a training batch of one series (torch's "Expected more than 1 value per channel")
    ('finelast_learner', 'one labelled training series', lambda c: preds(fit(finelast_learner(dls(X, np.array(['a'] * 16), splits=([0], list(range(1, 16)))), c.weights)), X[:3]),
     ok(lambda p: p.shape == (3, 1) and torch.isfinite(p).all())),
    ('finelast_learner', 'a batch size of 1', lambda c: preds(fit(finelast_learner(dls(X, Y, bs=1), c.weights, custom_head=flatten_probe_head)), X[:3]),
     ok(lambda p: p.shape == (3, 4) and torch.isfinite(p).all())),
    ('fineall_learner', 'get_X_preds, wrong channels', lambda c: c.learner.get_X_preds(X[:, :2]),
     fails(ValueError, r'built for 3 channels.*X has 2.*same order')),
    ('fineall_learner', 'get_X_preds, one series of another length', lambda c: preds(c.learner, X[:1, :, :25]),
     ok(lambda p: p.shape == (1, 4))),
    ('fineall_learner', 'no label of y is a class of the model (0.0 said nothing)', lambda c: evaluate_learner(c.learner, X[:4], np.array(list('wxyz'))),
     fails(ValueError, r"None of y's labels \('w', 'x', 'y', 'z'\) is a class of this model \('a', 'b', 'c', 'd'\).*as the learner was trained")),
    ('evaluate_learner', 'class indices for class names, and labels in upper case',
     lambda c: [_raises(lambda: evaluate_learner(c.learner, X, np.arange(16) % 4)), _raises(lambda: evaluate_learner(c.learner, X, np.char.upper(Y)))],
     ok(lambda r: "labels (0, 1, 2, 3) is a class" in r[0] and "labels ('A', 'B', 'C', 'D') is a class" in r[1])),
    ('evaluate_learner', 'bool labels for the classes 0 and 1, and int labels for True and False (they match, as scored)',
     lambda c: [evaluate_learner(fit(fineall_learner(dls(X, train), c.weights)), X, other)
                for train, other in ((np.arange(16) % 2, np.arange(16) % 2 == 1), (np.arange(16) % 2 == 1, np.arange(16) % 2))],
     ok(lambda r: all(0 <= m['accuracy'] <= 1 for m in r))),
    ('fineall_learner', 'some labels unseen, longer than the known ones',
     lambda c: evaluate_learner(c.learner, X, np.where(np.arange(16) < 8, np.char.add(Y, Y), Y)),
     warns(r"8 of the 16 series have labels that are no class of this model \('aa', 'bb', 'cc', 'dd'; its classes: 'a'.*scored as wrong",
           lambda m: m['accuracy'] <= 0.5)),  # 'aa' was cut to the predictions' width, 'a', and scored as right
    ('evaluate_learner', 'a feature extractor (c_out=None), 4 classes and 8 features',  # argmax of features scored as classes
     lambda c: evaluate_learner(ts_learner(dls(X, Y), TimeMAE, arch_config=dict(c_out=None), **ARCH), X, Y),
     fails(ValueError, r'one output per class \(4\).*outputs of shape \(16, 8\).*feature extractor.*get_embeddings')),
    ('evaluate_learner', 'one series as a 2-D array (its 3 channels were counted as 3 series)',
     lambda c: [_raises(lambda: evaluate_learner(c.learner, X[0], Y[:1])), _raises(lambda: predict_labels(c.learner, X[0]))],
     ok(lambda r: all('expects a 3-D array' in m and 'one series of 3 channels: pass `X[None]`' in m for m in r)
        and r[0].startswith('evaluate_learner') and r[1].startswith('predict_labels'))),
    ('predict_labels', "a multi-label learner (its top class alone was scored as single-label)",
     lambda c: (lambda learn: [_raises(lambda: predict_labels(learn, X)), _raises(lambda: evaluate_learner(learn, X, Y))])(
         ts_learner(get_ts_dls(X, multi_labels(Y), splits=SPLITS, tfms=[None, TSMultiLabelClassification()], bs=4), TimeMAE, **ARCH)),
     ok(lambda r: all('is multi-label' in m and 'get_X_preds(X)[0]' in m for m in r))),
    ('evaluate_learner', 'a pretraining learner', lambda c: evaluate_learner(pretrain(X, c.tmp, Y, save_best=False).learn, X, Y),
     fails(ValueError, r'one output per class.*PretrainOutput.*finelast_learner')),
    ('evaluate_learner', 'no series', lambda c: evaluate_learner(c.learner, X[:0], Y[:0]), fails(ValueError, r'at least one series.*empty')),
    ('evaluate_learner', 'a missing label (None, or NaN in float labels): scored as a class of its own before',
     lambda c: [_raises(lambda: evaluate_learner(c.learner, X, np.where(np.arange(16) == 3, None, Y.astype(object)))),
                _raises(lambda: evaluate_learner(c.learner, X, np.where(np.arange(16) == 5, np.nan, np.arange(16) % 4.)))],
     ok(lambda r: 'labels in y are missing (NaN or None), e.g. at positions [3]' in r[0] and 'positions [5]' in r[1]
        and all('Drop those series' in m for m in r))),
    ('evaluate_learner', 'one label short, and one-hot labels (scikit-learn counted their cells)',
     lambda c: [_raises(lambda: evaluate_learner(c.learner, X, Y[:-1])),
                _raises(lambda: evaluate_learner(c.learner, X, np.eye(4)[np.arange(16) % 4]))],
     ok(lambda r: 'X has 16 series and y 15 labels' in r[0] and 'y has shape (16, 4)' in r[1] and 'y.argmax(1)' in r[1])),
    ('predict_labels', 'a bare model or a file path, not a learner (an AttributeError on dls before)',
     lambda c: [pytest.raises(TypeError, predict_labels, c.learner.model, X).value,
                pytest.raises(TypeError, evaluate_learner, 'models/x.pth', X, Y).value],
     ok(lambda r: all('need a fastai/tsai learner trained on labels' in str(e) for e in r)
        and 'got TimeMAE' in str(r[0]) and 'got str' in str(r[1]))),
    ('evaluate_learner', "whole-number float labels for the text classes '0', '1'",  # 1.0 was '1.0', never the class '1'
     lambda c: (lambda learn, y: (evaluate_learner(learn, X, y.astype(float)), evaluate_learner(learn, X, y)))(
         fit(fineall_learner(dls(X, (np.arange(16) % 2).astype(str)), c.weights)), np.arange(16) % 2),
     ok(lambda m: m[0] == m[1] and m[1]['accuracy'] > 0)),
    ('fineall_learner', 'a fitted TSStandardize re-used for other channels',
     lambda c: fineall_learner(dls(X, Y, tfms=[stale_standardize()]), c.weights),
     fails(ValueError, r'statistics for 1 channel.*data has 3.*new TSStandardize')),
    ('finelast_learner', 'a fitted TSStandardize re-used for fewer channels than the encoder has',  # torch's broadcast error before
     lambda c: finelast_learner(dls(X[:, :2], Y, tfms=[stale_standardize(3)]), c.weights),
     fails(ValueError, r"statistics for 3 channel.*data has 2.*new TSStandardize.*c_in 3 \(pretrained\) vs 2 \(here\).*reinit='patch_embed'")),

    # get_embeddings
    ('get_embeddings', 'bs=0', lambda c: get_embeddings(model(), X, bs=0), fails(ValueError, r'bs \(series per batch\) must be a whole number of at least 1, got 0')),
    ('get_embeddings', '2-D array', lambda c: get_embeddings(model(), X[:, 0]), fails(ValueError, r'3-D.*takes 3 channels: pass the series as \[samples, 3, steps\]')),
    ('get_embeddings', 'pandas DataFrame', lambda c: get_embeddings(model(), nested(X)), fails(TypeError, r"pandas.*convert_to\(X, 'numpy3D'\)")),
    ('get_embeddings', 'unequal lengths', lambda c: get_embeddings(model(), [X[0], X[1, :, :30]]),
     fails(ValueError, r'different lengths.*Pad or truncate')),
    ('get_embeddings', 'text values', lambda c: get_embeddings(model(), np.full((2, 3, 40), 'x')), fails(TypeError, r'must hold numbers.*floats')),
    ('get_embeddings', 'wrong channels', lambda c: get_embeddings(c.learner, X[:, :2]), fails(ValueError, r'built for 3 channels.*same order')),
    ('get_embeddings', 'channels last [samples, steps, channels]', lambda c: get_embeddings(c.learner, X.transpose(0, 2, 1)),
     fails(ValueError, r'built for 3 channels.*has 40.*\[samples, steps, channels\].*X\.transpose\(0, 2, 1\)')),
    ('fineall_learner', 'get_X_preds, channels last', lambda c: c.learner.get_X_preds(X.transpose(0, 2, 1)),
     fails(ValueError, r'built for 3 channels.*has 40.*X\.transpose\(0, 2, 1\)')),
    ('fineall_learner', 'get_X_preds, pandas DataFrame', lambda c: c.learner.get_X_preds(nested(X)),  # was "2-D, univariate"
     fails(TypeError, r"get_X_preds takes a numpy array.*pandas.*convert_to\(X, 'numpy3D'\)")),
    ('fineall_learner', 'get_X_preds, 2-D array', lambda c: c.learner.get_X_preds(X[:, 0]),
     fails(ValueError, r'get_X_preds expects a 3-D array.*takes 3 channels')),
    ('ts_learner', 'get_X_preds of a univariate model, 2-D array',  # tsai's bare AssertionError before
     lambda c: ts_learner(dls(X[:, :1], Y), TimeMAE, **ARCH).get_X_preds(X[:, 0]),
     fails(ValueError, r'3-D array.*univariate series: `X\[:, None\]`')),
    ('get_embeddings', 'no series', lambda c: get_embeddings(c.learner, X[:0]), ok(lambda e: e.shape == (0, 8))),
    ('get_embeddings', 'one series', lambda c: get_embeddings(c.learner, X[:1]), ok(lambda e: e.shape == (1, 8))),
    ('get_embeddings', 'float64 list of lists', lambda c: get_embeddings(model(), X.astype(float).tolist()), ok(lambda e: e.shape == (16, 8))),
    ('get_embeddings', 'NaN values', lambda c: get_embeddings(model(), with_nan(X)), fails(ValueError, r'NaN or inf')),
    ('get_embeddings', 'not a TimeMAE', lambda c: get_embeddings(torch.nn.Linear(2, 2), X), fails(TypeError, r'needs a TimeMAE')),

    # the sktime estimators
    ('TimeMAEClassifier', 'NaN labels', lambda c: TimeMAEClassifier(**SK).fit(X, np.where(np.arange(16) == 3, None, Y)),
     fails(ValueError, r'1 of the 16 labels.*missing.*X_unlabelled')),
    ('TimeMAEClassifier', 'text and number labels mixed', lambda c: TimeMAEClassifier(**SK).fit(X, np.array([1, *Y[1:]], dtype=object)),
     fails(ValueError, r"y mixes text and other labels \(e\.g\. 'b' and 1\).*y\.astype\(str\)")),
    ('TimeMAEClassifier', 'an infinite label', lambda c: TimeMAEClassifier(**SK).fit(X, np.where(np.arange(16) == 5, np.inf, np.arange(16.) % 4)),
     fails(ValueError, r'1 of the 16 labels in y are infinite, e\.g\. at positions \[5\]')),
    ('TimeMAEClassifier', 'a continuous target (regression values)',
     lambda c: TimeMAEClassifier(**SK).fit(X, np.linspace(0.1, 2.3, 16)), fails(ValueError, r'continuous values.*TSRegression')),
    ('TimeMAEClassifier', 'integer classes stored as floats', lambda c: TimeMAEClassifier(**SK).fit(X, np.arange(16.) % 4).predict(X[:2]),
     ok(lambda p: p.dtype.kind == 'f' and set(p) <= {0., 1., 2., 3.})),   # the labels' own type back
    ('TimeMAEClassifier', 'channels last at predict', lambda c: c.clf.predict(X.transpose(0, 2, 1)),
     fails(ValueError, r'fitted on series with 3 channels.*has 40.*X\.transpose\(0, 2, 1\)')),
    ('TimeMAEClassifier', 'unseen labels when scoring', lambda c: c.clf.score(X[:4], np.array(list('wxyz'))), ok(lambda s: s == 0.)),
    ('TimeMAEClassifier', 'one class', lambda c: TimeMAEClassifier(**SK).fit(X, np.array(['a'] * 16)).predict(X[:2]),
     ok(lambda p: list(p) == ['a', 'a'])),
    ('TimeMAEClassifier', 'one series', lambda c: TimeMAEClassifier(**SK).fit(X[:1], Y[:1]).predict(X[:2]), ok(lambda p: len(p) == 2)),
    ('TimeMAEClassifier', 'no series', lambda c: TimeMAEClassifier(**SK).fit(X[:0], Y[:0]), fails(ValueError, r'Minimum number of cases.*0')),
    ('TimeMAEClassifier', 'NaN values', lambda c: TimeMAEClassifier(**SK).fit(with_nan(X), Y),
     fails(ValueError, r'missing values.*impute.*FitInTransform\(Imputer')),
    ('TimeMAEClassifier', 'NaN values, imputed as the error says', lambda c: imputed_clf().fit(with_nan(X), Y).predict(X[:2]),
     ok(lambda p: len(p) == 2)),
    ('TimeMAEClassifier', 'unequal lengths', lambda c: TimeMAEClassifier(**SK).fit(nested(X, ragged=True), Y),
     fails(ValueError, r'unequal length.*PaddingTransformer\(pad_length=n\) \* TimeMAEClassifier.*data you will predict on')),
    ('TimeMAEClassifier', 'unequal lengths, padded as the error says', lambda c: padded_clf(40).fit(nested(X, ragged=True), Y).predict(X[:2]),
     ok(lambda p: len(p) == 2)),
    ('TimeMAEClassifier', 'unequal lengths, padded as the error says, then longer series than any in fit',
     lambda c: padded_clf(40).fit(nested(X[..., :36], ragged=True), Y).predict(X[:2]), ok(lambda p: len(p) == 2)),
    ('TimeMAEClassifier', 'pandas (nested) input', lambda c: c.clf.predict(nested(X[:3])), ok(lambda p: len(p) == 3)),
    ('TimeMAEClassifier', 'wrong channels at predict', lambda c: c.clf.predict(X[:2, :2]),
     fails(ValueError, r'fitted on series with 3 channels.*X has 2.*as in fit')),
    ('TimeMAEClassifier', 'another length at predict', lambda c: c.clf.predict_proba(X[:2, :, :30]), ok(lambda p: p.shape == (2, 4))),
    ('TimeMAEClassifier', 'integer and float16 input', lambda c: TimeMAEClassifier(**SK).fit((X * 10).astype(int), Y).predict(X.astype('float16')),
     ok(lambda p: len(p) == 16)),
    ('TimeMAEClassifier', 'one window per series', lambda c: TimeMAEClassifier(**SK).fit(X[..., :4], Y),
     fails(ValueError, r'at least 2 patches.*4 steps make 1 with a window of 4: pass window=2 ')),
    ('TimeMAEClassifier', 'text values', lambda c: TimeMAEClassifier(**SK).fit(np.full((16, 3, 40), 'x'), Y),
     fails(TypeError, r'must hold numbers.*floats')),
    ('TimeMAEClassifier', 'fewer labels than series', lambda c: TimeMAEClassifier(**SK).fit(X, Y[:10]),
     fails(ValueError, r'Mismatch in number of cases.*16.*10')),
    ('TimeMAEClassifier', 'unknown mode', lambda c: TimeMAEClassifier(**{**SK, 'mode': 'frozen'}).fit(X, Y),
     fails(ValueError, r"mode must be 'fineall'.*'finelast'")),
    ('TimeMAETransformer', '2-D array', lambda c: TimeMAETransformer(**SK_TR).fit(X[:, 0]), fails(ValueError, r'2-D.*X\[:, None, :\]')),
    ('TimeMAETransformer', 'X=None at transform (an IndexError)', lambda c: TimeMAETransformer(weights_path=c.weights, n_heads=1).fit(X).transform(None),
     fails(ValueError, r'TimeMAETransformer needs X, the series: a numpy array or torch tensor \[n, channels, steps\]')),
    ('TimeMAETransformer', 'd_model not divisible by the 4 heads n_heads=None becomes (it named n_heads=4, never given)',
     lambda c: TimeMAETransformer(**{**SK_TR, 'd_model': 6, 'n_heads': None}).fit(X),
     fails(ValueError, r'd_model=6 must be divisible by the number of attention heads: n_heads=None pretrains with 4\. Pass n_heads= one of \[1, 2, 3, 6\]')),
    ('TimeMAEClassifier', 'd_model not divisible by the 4 heads its default n_heads=None becomes',
     lambda c: TimeMAEClassifier(**{**SK, 'd_model': 6, 'n_heads': None}).fit(X, Y),
     fails(ValueError, r'd_model=6 must be divisible by the number of attention heads: n_heads=None pretrains with 4\. Pass n_heads= one of \[1, 2, 3, 6\]')),
    ('TimeMAEClassifier', 'X_unlabelled as one multivariate series without its series axis',
     lambda c: TimeMAEClassifier(**{**SK, 'X_unlabelled': X[0]}).fit(X, Y),
     fails(ValueError, r'X_unlabelled has series of shape.*\(1, 40\) but X has \(3, 40\).*for one series of 3 channels pass X_unlabelled\[None\]')),
    ('TimeMAEClassifier', 'an empty list at predict (an IndexError)', lambda c: c.clf.predict([]),
     fails(ValueError, r'X is an empty list: TimeMAEClassifier has no series.*Pass at least one series\.$')),   # not the transformer's empty array: sktime refuses it
    ('TimeMAETransformer', 'an empty list at transform', lambda c: TimeMAETransformer(weights_path=c.weights, n_heads=1).fit(X).transform([]),
     fails(ValueError, r'X is an empty list: TimeMAETransformer.*an empty array \[0, channels, steps\] gives no rows')),
    ('TimeMAEClassifier', 'a list of series with other channel counts (padding cannot help)',
     lambda c: TimeMAEClassifier(**SK).fit([x[:2] if i % 2 else x for i, x in enumerate(X)], Y),
     fails(ValueError, r'^TimeMAEClassifier: the series in X have different numbers of channels \(\[2, 3\]\).*same variables')),
    ('TimeMAEClassifier', 'a window the weights file contradicts (a shape dump naming reinit=, which the estimators lack)',
     lambda c: TimeMAEClassifier(**{**SK, 'window': 8, 'n_heads': None}, weights_path=c.weights).fit(X, Y),
     fails(ValueError, r'^The encoder in weights_path was saved with window=4, and TimeMAEClassifier was given window=8\. Leave window out: the file decides it\.$')),
    ('TimeMAEClassifier', 'univariate X_unlabelled for a multivariate X: no [None] hint (it would not fit either)',
     lambda c: TimeMAEClassifier(**{**SK, 'X_unlabelled': X[:5, 0]}).fit(X, Y),
     fails(ValueError, r'X_unlabelled has series of shape.*\(1, 40\) but X has \(3, 40\)\. Pretraining stacks both, so they need the same channels and length\.$')),
    ('TimeMAEClassifier', 'a list of series of different lengths at fit ("call it once per length")',
     lambda c: TimeMAEClassifier(**SK).fit([x[:, :40 - i % 3] for i, x in enumerate(X)], Y),
     fails(ValueError, r'^TimeMAEClassifier: the series in X have different lengths.*np.pad.*PaddingTransformer\(pad_length=n\) \* TimeMAEClassifier\(\.\.\.\)`\.$')),
    ('TimeMAETransformer', 'missing weights file', lambda c: TimeMAETransformer(weights_path=c.tmp / 'nope.pth').fit(X),
     fails(FileNotFoundError, r'No weights file')),
    ('TimeMAETransformer', 'weights for other channels', lambda c: TimeMAETransformer(weights_path=c.weights, n_heads=1).fit(X[:, :2]),
     fails(ValueError, r'does not fit.*c_in=3')),
    ('TimeMAETransformer', 'wrong channels at transform', lambda c: TimeMAETransformer(weights_path=c.weights, n_heads=1).fit(X).transform(X[:, :1]),
     fails(ValueError, r'fitted on series with 3 channels.*X has 1.*as in fit')),
    ('TimeMAETransformer', 'pandas (nested) input', lambda c: TimeMAETransformer(weights_path=c.weights, n_heads=1).fit(nested(X)).transform(nested(X[:2])),
     ok(lambda r: r.shape == (2, 8))),

    ('TimeMAETransformer', 'NaN values with weights_path (only the scaling is fitted)',
     lambda c: TimeMAETransformer(weights_path=c.weights).fit(with_nan(X)),
     fails(ValueError, r'X has 1 missing or infinite values.*FitInTransform\(Imputer.*TimeMAETransformer')),
    ('TimeMAETransformer', 'NaN values when pretraining', lambda c: TimeMAETransformer(**SK_TR).fit(with_nan(X)),
     fails(ValueError, r'missing or infinite values.*Imputer')),
    ('TimeMAETransformer', 'inf at transform', lambda c: TimeMAETransformer(weights_path=c.weights).fit(X).transform(np.where(X > 2, np.inf, X)),
     fails(ValueError, r'missing or infinite values.*Imputer')),
    ('TimeMAETransformer', 'unequal lengths', lambda c: TimeMAETransformer(weights_path=c.weights).fit(nested(X, ragged=True)),
     fails(ValueError, r'X holds series of unequal length.*PaddingTransformer\(pad_length=n\) \* TimeMAETransformer')),
    ('TimeMAETransformer', 'unequal lengths at transform',
     lambda c: TimeMAETransformer(weights_path=c.weights).fit(X).transform(nested(X, ragged=True)),
     fails(ValueError, r'unequal length.*PaddingTransformer')),
    ('TimeMAETransformer', 'batch_size 0', lambda c: TimeMAETransformer(**{**SK_TR, 'batch_size': 0}).fit(X),
     fails(ValueError, r'batch_size must be a whole number of at least 1, got 0')),
    ('TimeMAETransformer', 'a negative lr', lambda c: TimeMAETransformer(**{**SK_TR, 'lr': -1.0}).fit(X),
     fails(ValueError, r'lr must be a number above 0, got -1.0')),
    ('TimeMAEClassifier', 'X_unlabelled of unequal lengths',
     lambda c: TimeMAEClassifier(**SK, X_unlabelled=nested(X, ragged=True)).fit(X, Y),
     fails(ValueError, r"X_unlabelled holds series of unequal length.*Pad it to X's length.*PaddingTransformer\(pad_length=n_steps\)"
                       r'.fit_transform\(X_unlabelled\)` \(a pipeline pads X, not X_unlabelled\)\.$')),  # one fix, the one that applies
    ('TimeMAEClassifier', 'inf values', lambda c: TimeMAEClassifier(**SK).fit(np.where(X > 2, np.inf, X), Y),
     fails(ValueError, r'missing or infinite values.*Imputer')),
    ('TimeMAEClassifier', 'inf at predict', lambda c: c.clf.predict(np.where(X > 2, -np.inf, X)),
     fails(ValueError, r'missing or infinite values.*Imputer')),
    ('TimeMAEClassifier', "random_state as numpy's Generator", lambda c: TimeMAEClassifier(**{**SK, 'random_state': np.random.default_rng(0)}).fit(X, Y).predict(X[:2]),
     ok(lambda p: len(p) == 2)),
    ('get_embeddings', 'a fitted sktime estimator', lambda c: get_embeddings(c.clf, X),
     fails(TypeError, r'needs a TimeMAE model.*pass its learner, `est.learn_`')),
    ('plot_embeddings', 'an encoder file (the advice named get_embeddings)', lambda c: plot_embeddings(c.weights, X, Y),
     fails(TypeError, r'^plot_embeddings needs a TimeMAE model.*got PosixPath.*load it first: plot_embeddings\(TimeMAE.from_pretrained\(path\), X, \.\.\.\)')),
    ('plot_embeddings', 'a fitted sktime estimator', lambda c: plot_embeddings(c.clf, X, Y),
     fails(TypeError, r'needs a TimeMAE model.*pass its learner, `est.learn_`, in place of the estimator')),
    ('plot_embeddings', 'pandas (multi-index) input', lambda c: plot_embeddings(model(), multiindex(X), Y),
     fails(TypeError, r"numpy array.*got a pandas DataFrame.*convert_to\(X, 'numpy3D'\)")),  # not 'X has 256 series'
    ('plot_embeddings', 'a missing label', lambda c: plot_embeddings(model(), X, np.where(np.arange(16) == 3, None, Y)),
     fails(ValueError, r'1 labels in y are missing.*positions \[3\]')),
    ('plot_embeddings', 'numbers and text mixed in y', lambda c: plot_embeddings(model(), X, np.array([1, 'a'] * 8, dtype=object))[1].tsne_points,
     ok(lambda r: r.shape == (16, 2))),

    ('TimeMAETransformer', 'weights_path, n_heads left out (the file says 1)',
     lambda c: TimeMAETransformer(weights_path=c.weights, batch_size=4).fit(X).transform(X),
     ok(lambda r: r.shape == (16, ARCH['d_model']))),
    ('TimeMAETransformer', 'weights_path and a d_model that contradicts the file (8)',
     lambda c: TimeMAETransformer(weights_path=c.weights, d_model=32).fit(X),
     fails(ValueError, r'saved with d_model=8.*d_model=32 was asked for.*Leave d_model out')),

    # the `timemae` commands (their exit status; errors are one line on stderr)
    ('timemae', 'bench, a data set that is not there (no folder left behind)',
     lambda c: (cli('bench', 'NoSuchData', '--out-dir', 'out2', '--report', 'B.md'), (c.tmp / 'out2').exists()),
     ok(lambda r: r[0][0] == 2 and "Data set 'NoSuchData' not found" in r[0][1] and 'Traceback' not in r[0][1] and not r[1])),
    ('timemae', 'probe, a data set that is not there', lambda c: cli('probe', 'NoSuchData', '--epochs', '1'),
     ok(lambda r: r[0] == 2 and "'NoSuchData' not found" in r[1])),
    ('timemae', 'probe, a corrupt .npz file', lambda c: cli('probe', str(write(c.tmp / 'bad.npz', b'garbage' * 9)), '--epochs', '1'),
     ok(lambda r: r[0] == 2 and 'neither .npy nor .npz' in r[1] and 'unpickling' not in r[1])),
    ('timemae', 'bench, a folder that is no data set', lambda c: cli('bench', str(c.tmp), '--report', 'B.md'),
     ok(lambda r: r[0] == 2 and 'not a data set folder' in r[1])),
    ('timemae', 'an unknown command', lambda c: cli('fly'), ok(lambda r: r[0] == 2 and 'invalid choice' in r[1])),
    ('timemae', 'bench, an unknown method', lambda c: cli('bench', 'BasicMotions', '--methods', 'magic'),
     ok(lambda r: r[0] == 2 and 'invalid choice' in r[1])),
    ('timemae', 'probe, a misspelt --set name', lambda c: cli('probe', 'BasicMotions', '--set', 'mask_ration=0.5'),
     ok(lambda r: r[0] == 2 and "no setting 'mask_ration'; did you mean 'mask_ratio'?" in r[1] and 'Traceback' not in r[1])),
    ('timemae', 'probe --report-only with data sets that it would ignore', lambda c: cli('probe', 'BasicMotions', '--report-only'),
     ok(lambda r: r[0] == 2 and 'would be ignored: drop them, or drop --report-only' in r[1])),
    ('timemae', 'probe, an --arch value of the wrong type', lambda c: cli('probe', 'BasicMotions', '--arch', 'n_layers=abc'),
     ok(lambda r: r[0] == 2 and "--arch: n_layers must be a whole number, got 'abc'" in r[1] and 'Traceback' not in r[1])),
    ('timemae', 'probe, a misspelt --arch name', lambda c: cli('probe', 'BasicMotions', '--arch', 'n_layer=1'),
     ok(lambda r: r[0] == 2 and "TimeMAE has no setting 'n_layer'; did you mean 'n_layers'?" in r[1])),
    ('timemae', 'bench, a data set named after --seeds', lambda c: cli('bench', '--seeds', '0', '1', 'BasicMotions'),
     ok(lambda r: r[0] == 2 and "expected a seed, a whole number of at least 0, got 'BasicMotions'" in r[1]
        and 'name the data sets before the options: `timemae bench BasicMotions --seeds ...`' in r[1])),
    ('timemae', 'probe, a data set named after --seeds', lambda c: cli('probe', '--seeds', '0', 'BasicMotions'),
     ok(lambda r: r[0] == 2 and '`timemae probe BasicMotions --seeds ...`' in r[1])),
    ('timemae', 'bench, a bad value of a one-value option gets no data-set hint',
     lambda c: cli('bench', 'BasicMotions', '--pretrain-epochs', 'BasicMotions'),
     ok(lambda r: r[0] == 2 and 'at least 1' in r[1] and 'data sets before' not in r[1])),
    ('timemae', 'bench, a lone misspelt method gets no data-set hint', lambda c: cli('bench', 'BasicMotions', '--methods', 'magic'),
     ok(lambda r: r[0] == 2 and 'invalid choice' in r[1] and 'data sets before' not in r[1])),
    ('timemae', 'speed takes no data sets: no data-set hint', lambda c: cli('speed', '--lengths', '128', 'HAR'),
     ok(lambda r: r[0] == 2 and "got 'HAR'" in r[1] and 'data sets before' not in r[1])),
    ('timemae', 'bench, a misspelt data set after a good one: refused before any run',
     lambda c: (cli('bench', 'BasicMotions', 'NoSuchData', '--quick', '--report', 'B.md'), (c.tmp / 'benchmarks' / 'results').exists()),
     ok(lambda r: r[0][0] == 2 and "'NoSuchData' not found" in r[0][1] and not r[1])),
    ('timemae', 'probe, a misspelt data set after a good one: refused before any run',
     lambda c: (cli('probe', 'BasicMotions', 'NoSuchData', '--epochs', '1'), list(c.tmp.rglob('seed*.json'))),
     ok(lambda r: r[0][0] == 2 and "'NoSuchData' not found" in r[0][1] and not r[1])),
    ('timemae', 'bench, a negative seed', lambda c: cli('bench', 'BasicMotions', '--seeds', '-1'),
     ok(lambda r: r[0] == 2 and "--seeds: expected a seed, a whole number of at least 0, got '-1'" in r[1])),
    ('timemae', 'demo, a negative seed', lambda c: cli('demo', '--seed', '-1'),
     ok(lambda r: r[0] == 2 and "--seed: expected a seed, a whole number of at least 0" in r[1])),
    ('timemae', 'bench --report-only, a report of other results (a scratch or misspelt --out-dir)', lambda c: report_of_other_results(c),
     ok(lambda r: all(x[0] == 2 and 'generated from the results in' in x[1] and '--out-dir benchmarks ' in x[1] for x in r[:2])
        and r[2])),
    ('timemae', 'bench --report-only, a file in results/ that is no result',
     lambda c: [(write(c.tmp / 'benchmarks' / 'results' / 'X' / 'm_seed0.json', text), cli('bench', '--report-only'))[1]
                for text in (b'[]', b'{"schema": %d}' % RESULT_SCHEMA)],
     ok(lambda r: all(x[0] == 2 and 'is not a result file of `timemae bench`' in x[1] and 'Traceback' not in x[1] for x in r))),
    ('timemae', 'bench --report-only, a copy of a result kept beside it (counted as one more run of its seed before)',
     lambda c: [(write(c.tmp / 'benchmarks' / 'results' / 'X' / 'm_seed0.json', rec),
                 write(c.tmp / 'benchmarks' / 'results' / folder / name, rec), cli('bench', '--report-only'))[2]
                for rec in [b'{"schema": %d, "dataset": "X", "name": "m", "seed": 0}' % RESULT_SCHEMA]
                for folder, name in (('X', 'm_seed0 (copy).json'), ('X_old', 'm_seed0.json'))],
     ok(lambda r: all(x[0] == 2 and 'holds the same run as' in x[1] and 'a copy would count as one more run' in x[1]
                      and 'Traceback' not in x[1] for x in r))),
    ('timemae', 'bench --bs 1 (torch failed after the whole pretraining), demo --bs 0',
     lambda c: [cli('bench', 'BasicMotions', '--bs', '1'), cli('demo', '--bs', '0')],
     ok(lambda r: r[0][0] == 2 and "--bs: expected a batch size" in r[0][1] and "of at least 2, got '1'" in r[0][1]
        and r[1][0] == 2 and "--bs: expected a whole number of at least 1, got '0'" in r[1][1])),
    ('timemae', 'bench --report-only with --root, --threads or --no-bar (ignored before)',
     lambda c: [cli('bench', '--report-only', *o) for o in (('--root', 'nowhere'), ('--threads', '1'), ('--no-bar',))],
     ok(lambda r: all(x[0] == 2 and '--report-only runs nothing' in x[1] for x in r)
        and [x[1].split('so ')[-1].split(' would')[0] for x in r] == ['--root', '--threads', '--no-bar'])),
    ('run_benchmark', 'one name or number where a list belongs (iterated letter by letter before)',
     lambda c: [_raises(lambda: run_benchmark('BasicMotions', tokenizers='bpe', report=None)),
                _raises(lambda: run_benchmark('BasicMotions', methods='rocket', report=None)),
                _raises(lambda: run_benchmark('NoSuchData', seeds=0, label_fractions=0.5, report=None))],
     ok(lambda r: "got 'bpe'" in r[0] and "Unknown method 'rocket'" in r[1] and "'NoSuchData' not found" in r[2])),
    ('run_benchmark', 'bs=1', lambda c: run_benchmark(['BasicMotions'], bs=1, report=None),
     fails(ValueError, r'bs \(--bs\) must be a whole number of at least 2.*got 1')),
    ('run_demo', 'bs=0', lambda c: run_demo(bs=0, target_dir=c.tmp / 'm', out_dir=c.tmp / 'o'),
     fails(ValueError, r'bs must be a whole number of at least 1, got 0')),
    ('run_demo', 'bs=1 (refused before: its heads train on a batch of one)',
     lambda c: run_demo(bs=1, pretrain_epochs=1, finetune_epochs=1, n_draws=1, arch=dict(NO_HEADS, window=10, n_heads=1),
                        target_dir=c.tmp / 'm', out_dir=c.tmp / 'o', verbose=False),
     ok(lambda r: len(r) == 4 and all(math.isfinite(m['accuracy_mean']) for m in r.values()))),
    ('timemae', "bench --report ''", lambda c: cli('bench', 'BasicMotions', '--report', ''),
     ok(lambda r: r[0] == 2 and '--report is empty' in r[1])),
    ('timemae', 'bench --report-only with data sets (ignored before)', lambda c: cli('bench', 'BasicMotions', '--report-only'),
     ok(lambda r: r[0] == 2 and '--report-only runs nothing' in r[1] and 'BasicMotions' in r[1])),
    ('timemae', "probe, an --out-dir holding someone else's PROBE.md",
     lambda c: (write(c.tmp / 'mine' / 'PROBE.md', b'# my notes'), cli('probe', 'BasicMotions', '--out-dir', 'mine', '--epochs', '1'),
                cli('probe', '--report-only', '--out-dir', 'mine'), (c.tmp / 'mine' / 'PROBE.md').read_bytes()),
     ok(lambda r: all(x[0] == 2 and 'not written by `timemae probe`' in x[1] for x in r[1:3]) and r[3] == b'# my notes')),
    ('timemae', 'probe, a .npy file in this folder', lambda c: (write(c.tmp / 'x.npy', b'x'), cli('probe', 'x.npy', '--epochs', '1'))[1],
     ok(lambda r: r[0] == 2 and 'x.npy is a file' in r[1] and 'not found' not in r[1])),

    # a folder that cannot be written: an error at the start that names the setting, not after the first epoch or run
    ('TimeMAEPretrain', 'target_dir inside a file', lambda c: pretrain(X, write(c.tmp / 'f', b'x') / 'models'),
     fails(OSError, r'Cannot write files to .*models \(.*f is a file, not a folder\).*pass TimeMAEPretrain\(target_dir=\.\.\.\) a folder you can write to')),
    ('timemae', 'demo, --out-dir inside a file',
     lambda c: cli('demo', '--out-dir', str(write(c.tmp / 'f', b'x') / 'out'), '--pretrain-epochs', '1', '--finetune-epochs', '1'),
     ok(lambda r: r[0] == 2 and 'Cannot write files to' in r[1] and '(--out-dir)' in r[1])),
    ('timemae', 'demo, --out-dir a file ("File exists" read as: the folder exists)',
     lambda c: cli('demo', '--out-dir', str(write(c.tmp / 'f', b'x')), '--pretrain-epochs', '1', '--finetune-epochs', '1'),
     ok(lambda r: r[0] == 2 and 'f is a file, not a folder' in r[1] and 'File exists' not in r[1])),
    ('timemae', 'demo, --target-dir inside a file',
     lambda c: cli('demo', '--target-dir', str(write(c.tmp / 'f', b'x') / 'm'), '--pretrain-epochs', '1', '--finetune-epochs', '1'),
     ok(lambda r: r[0] == 2 and 'Cannot write files to' in r[1] and '(--target-dir)' in r[1])),
    ('timemae', 'bench, --out-dir inside a file',
     lambda c: cli('bench', 'BasicMotions', '--out-dir', str(write(c.tmp / 'f', b'x') / 'out'), '--report', 'B.md'),
     ok(lambda r: r[0] == 2 and 'Cannot write files to' in r[1] and '(--out-dir)' in r[1])),
    ('timemae', 'probe, --out-dir inside a file',
     lambda c: cli('probe', 'BasicMotions', '--out-dir', str(write(c.tmp / 'f', b'x') / 'out'), '--epochs', '1'),
     ok(lambda r: r[0] == 2 and 'Cannot write files to' in r[1] and '(--out-dir)' in r[1])),
]
SK_TR = {k: v for k, v in SK.items() if k != 'finetune_epochs'}


def _raises(f) -> str:
    "The message of the error (ValueError or OSError, the ones the command line prints) `f()` raises."
    with pytest.raises((ValueError, OSError)) as e: f()
    return str(e.value)


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def stale_standardize(channels=1):
    "A TSStandardize(by_var=True) fitted on data of `channels` channels, then re-used."
    std = TSStandardize(by_var=True)
    dls(X[:, :channels], Y, tfms=[std])
    return std


def imputed_clf():
    from sktime.transformations.compose import FitInTransform
    from sktime.transformations.series.impute import Imputer
    return FitInTransform(Imputer(method='linear')) * TimeMAEClassifier(**SK)


def padded_clf(pad_length):
    from sktime.transformations.panel.padder import PaddingTransformer
    return PaddingTransformer(pad_length=pad_length) * TimeMAEClassifier(**SK)


def report_of_other_results(c):
    "A report generated from ./benchmarks, then --report-only from a misspelt and from a scratch results folder."
    from test_bad_input import _copy_a_committed_result  # a folder of no results is refused before this is checked
    _copy_a_committed_result(c.tmp / 'benchmarks')
    _copy_a_committed_result(c.tmp / 'scratch')
    assert cli('bench', '--report-only')[0] == 0
    before = (c.tmp / 'BENCHMARKS.md').read_text()
    typo, scratch = cli('bench', '--report-only', '--out-dir', 'benchsmarks'), cli('bench', '--report-only', '--out-dir', 'scratch')
    return typo, scratch, (c.tmp / 'BENCHMARKS.md').read_text() == before


def cli(*argv):
    "`timemae argv...` in-process: (exit status, stderr)."
    import contextlib
    import io
    from tsai_timemae.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try: rc = main(list(argv))
        except SystemExit as e: rc = e.code
    return rc or 0, err.getvalue()


class Ctx:
    "What a row may use: the encoder file, a fitted classifier and learner (built on first use), a fresh folder."
    def __init__(self, request, weights, tmp): self._request, self.weights, self.tmp = request, weights, tmp
    @property
    def clf(self): return self._request.getfixturevalue('clf')
    @property
    def learner(self): return self._request.getfixturevalue('learner')


@pytest.fixture
def ctx(request, weights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                                            # the commands write where they run
    monkeypatch.setenv('TIMEMAE_DATA', str(tmp_path / 'no_data_here'))
    monkeypatch.setenv('HOME', str(tmp_path))                               # `~` is this test's folder
    return Ctx(request, weights, tmp_path)


@pytest.mark.parametrize('entry, case, run, expect', ROWS, ids=[f'{e}: {c}' for e, c, _, _ in ROWS])
def test_public_api_against_bad_input(ctx, entry, case, run, expect):
    if isinstance(expect, fails):
        with pytest.raises(expect.type, match=re.compile(expect.pattern, re.S)) as e:
            run(ctx)
        msg = str(e.value)
        assert 'weights_only=False' not in msg and len(msg) > 30, msg    # names the problem and the fix, not torch's advice
        if entry in ('finelast_learner', 'fineall_learner', 'timemae_learner'):  # not "use finelast_learner" to its user
            assert 'build the model from the file' not in msg, msg
    elif isinstance(expect, warns):
        with pytest.warns(UserWarning, match=re.compile(expect.pattern, re.S)):
            result = run(ctx)
        assert expect.check(result), result
    else:
        import warnings
        with warnings.catch_warnings():          # a documented result comes without a warning of ours
            warnings.filterwarnings('error', message=r'.*(stores no architecture|is not loaded without|more channels|labels are whole numbers)')
            result = run(ctx)
        assert expect.check(result), result
    leftovers = [p for p in ctx.tmp.rglob('*') if p.name.endswith('.tmp')]
    assert not leftovers, f'half-written files left behind: {leftovers}'


def test_pretraining_with_one_patch_per_series_is_refused_when_the_learner_is_built(udls, tmp_path):
    "It failed at the first batch, after the tokenizer's fit ('Masking needs at least 2 patches'), naming no setting."
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    with pytest.raises(ValueError, match=r'at least 2 patches .* 100 steps make 1 with a window of 100: pass window=50 '):
        ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path), window=100, d_model=8, n_layers=1, n_heads=2, d_ff=16)
