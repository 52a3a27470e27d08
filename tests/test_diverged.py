"""A training whose loss turns NaN or infinite: no NaN encoder is saved, and nothing fine-tunes, probes or predicts
with one without a word; each entry point names the learning rate to lower."""
import os
import warnings

import numpy as np
import pytest
import torch
from fastai.callback.core import Callback

from tsai_timemae.all import TimeMAE, save_encoder_weights

TINY = dict(window=10, d_model=16, n_layers=1, n_heads=2, d_ff=32)


class Diverge(Callback):
    "Stands in for a far too high learning rate: the encoder's weights are NaN from the first epoch on."
    def before_epoch(self):
        with torch.no_grad():
            for p in self.learn.model.backbone.parameters(): p.fill_(float('nan'))


@pytest.fixture(scope='module')
def small_ds(basic_motions):
    from tsai_timemae.data import TSDataset
    X, y, Xt, yt = basic_motions
    return TSDataset('BasicMotions', X[:30], y[:30], X[30:], y[30:], Xt, yt)


def test_an_encoder_with_nan_weights_is_not_saved(tmp_path):
    "Every loader took such a file, and features and predictions from it were NaN."
    m = TimeMAE(6, 4, 100, **TINY)
    with torch.no_grad(): m.backbone.pos_embed.fill_(float('nan'))
    with pytest.raises(ValueError, match=r'not finite \(NaN or infinite, e.g. backbone.pos_embed\).*diverged.*lower learning rate'):
        save_encoder_weights(m, tmp_path / 'enc.pth')
    assert not os.listdir(tmp_path)


def test_the_bench_keeps_no_encoder_and_no_record_of_a_diverged_pretraining(small_ds, tmp_path, monkeypatch):
    "It recorded weights 'None' and the fine-tuning failed with 'No weights file at .../None'."
    from tsai_timemae import bench
    from tsai_timemae.bench import DEFAULTS, pretrain_timemae, timemae_pretraining
    cfg = {**DEFAULTS, **TINY, 'bs': 10, 'pretrain_epochs': 1, 'pretrain_lr': 1e-3}
    orig = bench.ts_learner
    monkeypatch.setattr(bench, 'ts_learner', lambda *a, cbs=None, **k: orig(*a, cbs=[cbs, Diverge()], **k))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(ValueError, match=r'pretraining diverged at epoch 0.*--pretrain-lr, now 0.001'):
            pretrain_timemae(small_ds, timemae_pretraining(cfg), 0, tmp_path, bar=False)
    assert not [f for _, _, fs in os.walk(tmp_path) for f in fs if f.endswith(('.json', '.pth'))]


def test_the_probe_names_the_learning_rate_not_an_imputer(small_ds):
    "scikit-learn's error on NaN features advised an imputer or HistGradientBoostingClassifier."
    from tsai_timemae.probe import run_probe
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(ValueError, match=r'pretraining diverged.*nothing to probe.*--lr, now 100000'):
            run_probe(small_ds, epochs=1, lr=1e5, bs=10, arch_kwargs=TINY, verbose=False)


def test_the_demo_does_not_return_an_earlier_runs_encoder(basic_motions, tmp_path, monkeypatch):
    "A diverged rerun returned the earlier run's file of the same name, untouched."
    from tsai_timemae import demo
    X = basic_motions[0]
    first = demo.pretrain_encoder(X, 1, 10, 0, tmp_path, TINY, verbose=False)
    orig = demo._quiet_fit
    monkeypatch.setattr(demo, '_quiet_fit', lambda learn, *a: (learn.add_cb(Diverge()), orig(learn, *a)))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(ValueError, match='pretraining diverged at epoch 0'):
            demo.pretrain_encoder(X, 1, 10, 0, tmp_path, TINY, verbose=False)
    assert first.exists()                                          # the earlier run's own file stays


def test_the_sktime_classifier_refuses_a_diverged_fine_tuning(basic_motions):
    "predict_proba was NaN and predict one class for every series, without a word."
    from tsai_timemae.sktime import TimeMAEClassifier
    X, y = basic_motions[:2]
    est = TimeMAEClassifier(**TINY, batch_size=8, mode='fineall', pretrain_epochs=1, finetune_epochs=2, finetune_lr=1e12,
                            random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(ValueError, match=r'Fine-tuning diverged.*Lower finetune_lr \(now 1e\+12\)'):
            est.fit(X, y)


def test_the_divergence_warning_names_the_users_line_through_a_scikit_learn_pipeline(basic_motions):
    "scikit-learn calls each step through joblib: the warning named joblib/memory.py."
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from tsai_timemae.sktime import TimeMAETransformer
    X, y = basic_motions[:2]
    pipe = make_pipeline(TimeMAETransformer(**TINY, pretrain_epochs=3, lr=1e12, random_state=0), LogisticRegression())
    with pytest.warns(UserWarning, match='diverged at epoch') as said, pytest.raises(ValueError, match='diverged'):
        pipe.fit(X[:16], y[:16])
    assert [w.filename for w in said if 'diverged' in str(w.message)] == [__file__]


def test_a_resumed_run_remembers_the_epoch_it_diverged_at(udls, tmp_path, capsys):
    "The state file did not keep it: after resuming, the closing line named the first epoch run after the resume."
    from tsai.all import ts_learner
    from conftest import SMALL
    from tsai_timemae.all import TimeMAEPretrain

    class DivergeAt1(Callback):
        def before_epoch(self):
            if self.epoch == 1:
                with torch.no_grad():
                    for p in self.learn.model.backbone.parameters(): p.fill_(float('nan'))
    class Stop(Callback):
        order = 90
        def after_epoch(self):
            if self.epoch == 2: raise KeyboardInterrupt
    def learner():
        cb = TimeMAEPretrain(target_dir=tmp_path, checkpoint='last', save_every=1, resume=True)
        return ts_learner(udls, TimeMAE, cbs=cb, path=tmp_path, **SMALL), cb
    learn, _ = learner()
    with warnings.catch_warnings(), pytest.raises(KeyboardInterrupt):
        warnings.simplefilter('ignore')
        with learn.no_bar(), learn.no_logging(): learn.fit(4, 1e-3, cbs=[DivergeAt1(), Stop()])
    capsys.readouterr()
    learn, cb = learner()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        with learn.no_bar(), learn.no_logging(): learn.fit(4, 1e-3)
    assert 'before pretraining diverged at epoch 1 ' in capsys.readouterr().out
    assert cb.saver.diverged_at == 1
    said = [str(x.message) for x in w if 'diverged' in str(x.message)]
    assert len(said) == 1 and said[0].startswith('TimeMAE pretraining diverged at epoch 1, before this run was resumed; at epoch 3:')


def test_weights_broken_by_an_epochs_last_step_are_named_and_not_saved(basic_motions, tmp_path):
    "The epoch's loss is finite (computed before each step): the saver skipped the epoch and nothing said why."
    from tsai.all import get_ts_dls, ts_learner
    from conftest import SMALL
    from tsai_timemae.all import TimeMAEPretrain, read_encoder_weights
    class BreakLastStep(Callback):
        def after_step(self):
            if self.epoch == 1 and self.iter == self.n_iter - 1:
                with torch.no_grad():
                    for p in self.learn.model.backbone.parameters(): p.fill_(float('nan'))
    cb = TimeMAEPretrain(target_dir=tmp_path, checkpoint='last', verbose=False)
    learn = ts_learner(get_ts_dls(basic_motions[0], bs=10), TimeMAE, cbs=cb, path=tmp_path, **SMALL)  # no validation set
    with pytest.warns(UserWarning, match=r"diverged at the end of epoch 1: the encoder's weights are NaN or infinite, "
                                         r"although the epoch's loss was finite") as said:
        with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-3, cbs=BreakLastStep())
    assert [x.filename for x in said if 'diverged' in str(x.message)] == [__file__]
    assert all(np.isfinite(h['train_loss']) for h in cb.history)
    assert all(torch.isfinite(v).all() for v in read_encoder_weights(cb.weights_path).values())


def test_probing_during_the_fit_names_the_learning_rate_too(small_ds):
    "With every=K the probe inside the fit met the NaN features first, and scikit-learn's imputer advice came back."
    from tsai_timemae.probe import run_probe
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(ValueError, match=r'pretraining diverged.*nothing to probe.*--lr, now 100000'):
            run_probe(small_ds, epochs=3, every=1, lr=1e5, bs=10, arch_kwargs=TINY, verbose=False)
