"""sktime / scikit-learn interface (issue 5): TimeMAEClassifier, TimeMAETransformer and get_embeddings.

`TestSktimeConformance` is sktime's own API conformance suite (check_estimator) on both estimators: ~1 minute on 2 cores.
Everything else is behaviour on BasicMotions (sktime's bundled copy, 4 classes, chance = 25%) with small encoders."""
import functools
import os
import random
import tempfile
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sktime.exceptions import NotFittedError
from sktime.datatypes import convert_to

from tsai_timemae.embeddings import get_embeddings
from tsai_timemae.model import TimeMAE
from tsai_timemae.sktime import TimeMAEClassifier, TimeMAETransformer
from tsai_timemae.weights import read_encoder_weights, save_encoder_weights

# small encoder, few epochs: each fit on BasicMotions takes about a second on one CPU thread
ARCH = dict(window=8, d_model=32, n_layers=2, n_heads=2, d_ff=64)
CLF = dict(**ARCH, pretrain_epochs=20, finetune_epochs=20, random_state=0)
TINY = TimeMAEClassifier.get_test_params()[0]
FEW = np.arange(0, 40, 5)  # 8 training series, 2 of each class (BasicMotions' training split is sorted by class)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    "One torch thread (the machine is shared); restored for the other test modules."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope='module')
def bm():
    "BasicMotions train/test as sktime returns them: float64 [40, 6, 100] arrays and string labels."
    from sktime.datasets import load_basic_motions
    Xtr, ytr = load_basic_motions(split='train', return_type='numpy3D')
    Xte, yte = load_basic_motions(split='test', return_type='numpy3D')
    return Xtr, ytr, Xte, yte


@pytest.fixture(scope='module')
def fitted(bm):
    "A FineAll classifier fitted once on BasicMotions' training split."
    return TimeMAEClassifier(**CLF).fit(*bm[:2])


# -- sktime's conformance suite ------------------------------------------------------------------------------------
class TestSktimeConformance:
    "sktime's check_estimator: tags, cloning, pickling, fit idempotence, no input mutation, all input mtypes, ..."

    def test_classifier(self):
        from sktime.utils.estimator_checks import check_estimator
        check_estimator(TimeMAEClassifier, raise_exceptions=True, verbose=False)

    def test_transformer(self):
        from sktime.utils.estimator_checks import check_estimator
        check_estimator(TimeMAETransformer, raise_exceptions=True, verbose=False)


# -- the classifier ----------------------------------------------------------------------------------------------------
def test_classifier_learns_basic_motions(bm, fitted):
    Xte, yte = bm[2:]
    assert fitted.score(Xte, yte) >= 0.6                        # chance is 0.25
    proba = fitted.predict_proba(Xte)
    assert proba.shape == (len(Xte), 4) and np.allclose(proba.sum(1), 1, rtol=0, atol=1e-12)  # log_loss's float64 check
    assert (fitted.classes_[proba.argmax(1)] == fitted.predict(Xte)).all()  # columns follow classes_


def test_finelast_trains_only_a_linear_probe_above_chance(bm):
    clf = TimeMAEClassifier(**CLF, mode='finelast').fit(*bm[:2])
    head = clf.learn_.model.head
    assert isinstance(head[-1], torch.nn.Linear) and head[-1].out_features == 4
    assert clf.score(*bm[2:]) >= 0.425                          # 17 of 40: chance (0.25) reaches it about 1% of the time


def test_same_random_state_same_predictions_other_state_differs(bm, fitted):
    Xtr, ytr, Xte, _ = bm
    again = TimeMAEClassifier(**CLF).fit(Xtr, ytr)
    np.testing.assert_array_equal(again.predict_proba(Xte), fitted.predict_proba(Xte))
    other = TimeMAEClassifier(**{**CLF, 'random_state': 1}).fit(Xtr, ytr)
    assert not np.array_equal(other.predict_proba(Xte), fitted.predict_proba(Xte))


def test_random_state_leaves_global_rngs_alone(bm):
    "Fitting with random_state seeds the fit only: the caller's random streams continue as if nothing happened."
    def draws(): return random.random(), np.random.rand(), torch.rand(1).item()
    random.seed(123); np.random.seed(123); torch.manual_seed(123)
    expected = draws()
    random.seed(123); np.random.seed(123); torch.manual_seed(123)
    flags = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    TimeMAEClassifier(**TINY, random_state=0).fit(bm[0][FEW], bm[1][FEW])
    assert draws() == expected
    assert (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) == flags  # fastai's seeding sets them


def test_predict_and_embeddings_leave_global_rngs_alone(bm, fitted):
    "Inference draws DataLoader seeds from python's and torch's RNGs; the caller's streams must not move."
    def draws(): return random.random(), np.random.rand(), torch.rand(1).item()
    random.seed(123); np.random.seed(123); torch.manual_seed(123)
    expected = draws()
    for infer in (lambda: fitted.predict(bm[2]), lambda: get_embeddings(fitted.learn_, bm[2])):
        random.seed(123); np.random.seed(123); torch.manual_seed(123)
        infer()
        assert draws() == expected


def test_sktime_input_types_give_the_same_predictions(bm, fitted):
    Xte = bm[2][:10]
    expected = fitted.predict_proba(Xte)
    for mtype in ('pd-multiindex', 'nested_univ'):
        np.testing.assert_allclose(fitted.predict_proba(convert_to(Xte, mtype)), expected, rtol=1e-6, err_msg=mtype)


def test_a_tensor_a_list_of_arrays_and_a_plain_frame_are_read_as_the_panel_they_hold(bm, fitted):
    """sktime refused a torch tensor and a list of arrays with its long list of formats (X_unlabelled took them); a
    plain DataFrame of numbers (pd.read_csv) gave the classifier sktime's refusal, and the transformer ONE series
    without a word."""
    import pandas as pd
    Xte = bm[2][:10]
    expected = fitted.predict_proba(Xte)
    np.testing.assert_allclose(fitted.predict_proba(torch.tensor(Xte)), expected, rtol=1e-6)
    np.testing.assert_allclose(fitted.predict_proba(list(Xte)), expected, rtol=1e-6)
    assert list(fitted.predict(list(torch.tensor(Xte)))) == list(fitted.predict(Xte))
    with pytest.raises(ValueError, match='different lengths.*Pad'):
        fitted.predict([Xte[0], Xte[1][:, :50]])
    X1, y = bm[0][FEW, 0], bm[1][FEW]                      # 8 univariate series, one per row
    a = TimeMAEClassifier(**TINY, random_state=0).fit(X1, y)
    b = TimeMAEClassifier(**TINY, random_state=0).fit(pd.DataFrame(X1), y)
    np.testing.assert_allclose(b.predict_proba(pd.DataFrame(X1)), a.predict_proba(X1), rtol=1e-6)
    # fit_predict without cv (with cv=2 sktime 1.2 fails on numpy input too, in its own code: X.index)
    assert len(TimeMAEClassifier(**TINY, random_state=0).fit_predict(torch.tensor(bm[0][FEW]), y)) == 8
    # labels as a tensor beside a tensor X (integer class ids): sktime refused them with its list of formats
    ids = torch.tensor(np.unique(y, return_inverse=True)[1])
    c = TimeMAEClassifier(**TINY, random_state=0).fit(torch.tensor(bm[0][FEW]), ids)
    assert list(c.classes_) == [0, 1, 2, 3] and len(c.fit_predict(torch.tensor(bm[0][FEW]), ids)) == 8
    assert TimeMAEClassifier(**TINY, random_state=0).fit_predict_proba(list(bm[0][FEW]), y).shape == (8, 4)
    t = TimeMAETransformer(**TimeMAETransformer.get_test_params()[0])
    from tsai_timemae.notices import TimeMAEWarning
    with pytest.warns(TimeMAEWarning, match=r'DataFrame of 8 rows and 100 columns.*ONE series.*X.to_numpy\(\)\[:, None, :\]'):
        t.fit(pd.DataFrame(X1))                            # one series to sktime (its conformance checks pass one)
    assert t.fit(torch.tensor(bm[0][FEW])).transform(list(bm[0][FEW])).shape[0] == 8
    for two_d in (X1, torch.tensor(X1)):                   # a 2-D tensor is what a 2-D array is: refused, with the fix
        with pytest.raises(ValueError, match=r'2-D array of shape \(8, 100\).*X\[:, None, :\]'):
            t.fit(two_d)
        with pytest.raises(ValueError, match=r'2-D array of shape \(8, 100\)'):
            t.transform(two_d)


def test_one_hot_labels_are_refused_with_the_fix(bm):
    "sktime fitted one classifier per column of one-hot labels, pretraining each, and predicted rows not one-hot."
    X, y = bm[0][FEW], bm[1][FEW]
    classes = np.unique(y)
    with pytest.raises(ValueError, match=r'one-hot labels \(y of shape \(8, 4\).*argmax\(1\)'):
        TimeMAEClassifier(**TINY).fit(X, (y[:, None] == classes).astype(float))


def test_labels_as_a_python_list_fit_as_an_array_does(bm):
    "scikit-learn takes y as a list; sktime's own check fails on one ('Calling nonzero on 0d arrays'), for text and numbers alike."
    Xtr, ytr = bm[0][FEW], bm[1][FEW]
    for y in (ytr, (ytr == ytr[0]).astype(int)):
        by_array = TimeMAEClassifier(**{**TINY, "random_state": 0}).fit(Xtr, y)
        by_list = TimeMAEClassifier(**{**TINY, "random_state": 0}).fit(Xtr, y.tolist())
        assert list(by_list.classes_) == list(by_array.classes_)
        np.testing.assert_allclose(by_list.predict_proba(Xtr[:3]), by_array.predict_proba(Xtr[:3]), rtol=1e-5)


def test_one_class_fits_nothing_and_says_so_and_the_settings_are_still_checked(bm):
    """sktime skips `_fit` when y has one class (the first 10 BasicMotions training series are all one class), so
    nothing was pretrained or checked and no word was said; now a warning says what happens, and bad settings are
    refused as with two classes."""
    from tsai_timemae.notices import TimeMAEWarning
    X, y = bm[0][:10], bm[1][:10]
    assert len(set(y)) == 1
    with pytest.warns(TimeMAEWarning, match=r"one class \('standing'\) in y: sktime fits nothing then"):
        est = TimeMAEClassifier(**TINY).fit(X, y)
    assert not hasattr(est, 'learn_') and list(est.predict(bm[2][:3])) == ['standing'] * 3
    for bad, message in (({'mode': 'bogus'}, 'mode must be'), ({'lr': -5}, 'lr'),
                         ({'pretrain_kwargs': {'nonsense': 1}}, 'nonsense'), ({'tokenizer': 'bogus'}, 'bogus'),
                         ({'pretrain_epochs': 'x'}, 'pretrain_epochs'), ({'mask_ratio': '60%'}, 'mask_ratio'),
                         ({'d_model': '64'}, 'd_model'), ({'window': -3}, 'window')):
        with pytest.raises(ValueError, match=message): TimeMAEClassifier(**{**TINY, **bad}).fit(X, y)
    est.set_params(mode='bogus')          # a refit that fails leaves no earlier model behind, as sktime's own fit does
    with pytest.raises(ValueError, match='mode must be'): est.fit(X, y)
    with pytest.raises(NotFittedError): est.predict(bm[2][:3])


def test_univariate_2d_array_is_sktimes_n_series_convention(bm):
    "sktime classifiers read a 2-D array [n, steps] as n univariate series; so do we (the transformer refuses it)."
    X, y = bm[0][:, 0], bm[1]
    clf = TimeMAEClassifier(**TINY, random_state=0).fit(X, y)
    assert clf.learn_.model.backbone.c_in == 1
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X[:, None]))


def test_fit_writes_no_files_and_cleans_its_temporary_directory(bm, tmp_path, monkeypatch):
    cwd, tmp = tmp_path / 'cwd', tmp_path / 'tmp'
    cwd.mkdir(); tmp.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp))
    TimeMAEClassifier(**TINY, random_state=0).fit(bm[0][FEW], bm[1][FEW])
    TimeMAETransformer(**TimeMAETransformer.get_test_params()[0]).fit(bm[0][FEW])
    assert os.listdir(cwd) == [] and os.listdir(tmp) == []


def test_fit_is_quiet_unless_verbose(bm, capsys):
    X, y = bm[0][FEW], bm[1][FEW]
    TimeMAEClassifier(**TINY).fit(X, y).predict(X)
    assert capsys.readouterr().out == ''
    TimeMAEClassifier(**TINY, verbose=True).fit(X, y)
    assert 'pretrained TimeMAE encoder loaded' in capsys.readouterr().out


def test_unlabelled_series_join_pretraining(bm):
    Xtr, ytr, Xte, _ = bm
    plain = TimeMAEClassifier(**TINY, random_state=0).fit(Xtr, ytr)
    more = TimeMAEClassifier(**TINY, random_state=0, X_unlabelled=Xte).fit(Xtr, ytr)
    assert not np.array_equal(plain.predict_proba(Xte), more.predict_proba(Xte))
    with pytest.raises(ValueError, match='X_unlabelled .* same channels and length'):
        TimeMAEClassifier(**TINY, X_unlabelled=Xte[..., :50]).fit(Xtr, ytr)
    as_list = TimeMAEClassifier(**TINY, random_state=0, X_unlabelled=list(Xte)).fit(Xtr, ytr)   # arrays, as the library takes
    as_tensor = TimeMAEClassifier(**TINY, random_state=0, X_unlabelled=torch.as_tensor(Xte)).fit(Xtr, ytr)
    for clf in (as_list, as_tensor): np.testing.assert_array_equal(clf.predict_proba(Xte), more.predict_proba(Xte))
    with pytest.raises(TypeError, match='X_unlabelled must be an sktime Panel .*got dict'):
        TimeMAEClassifier(**TINY, X_unlabelled={'a': Xte}).fit(Xtr, ytr)
    with pytest.raises(ValueError, match='X_unlabelled is empty'):
        TimeMAEClassifier(**TINY, X_unlabelled=[]).fit(Xtr, ytr)


def test_bad_unlabelled_series_are_named_x_unlabelled_not_x(bm):
    "The errors of the array check named X, which the user passed correctly: the fix belongs to X_unlabelled."
    Xtr, ytr, Xte, _ = bm
    with pytest.raises(ValueError, match='the series in X_unlabelled have different lengths'):
        TimeMAEClassifier(**TINY, X_unlabelled=[Xte[0], Xte[1][:, :50]]).fit(Xtr, ytr)
    with pytest.raises(TypeError, match=r'X_unlabelled holds complex numbers.*np\.abs\(X_unlabelled\)'):
        TimeMAEClassifier(**TINY, X_unlabelled=Xte.astype(np.complex64)).fit(Xtr, ytr)
    with pytest.raises(TypeError, match='X_unlabelled must hold numbers'):
        TimeMAEClassifier(**TINY, X_unlabelled=np.full(Xte.shape, 'a')).fit(Xtr, ytr)


def test_a_fitted_classifier_pickles_as_small_after_predicting_as_after_fit(bm):
    "fastai's get_preds keeps its last batch, output and loader on the learner: they must not travel in the pickle."
    import pickle
    Xtr, ytr, Xte, _ = bm
    clf = TimeMAEClassifier(**TINY, random_state=0).fit(Xtr, ytr)
    size = len(pickle.dumps(clf))
    probs = clf.predict_proba(np.concatenate([Xte] * 20))
    learn = clf.learn_
    assert learn.pred is None and learn.dl is None and learn.xb == (None,)
    assert len(pickle.dumps(clf)) < size * 1.05
    assert all(p.device.type == 'cpu' for p in learn.model.parameters()) and learn.dls.device.type == 'cpu'
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(Xte), probs[:len(Xte)])


def test_fine_tuning_scales_inputs_as_pretraining_did(bm):
    "With X_unlabelled the encoder learns on inputs standardized by X and X_unlabelled together; fine-tuning and predict must see the same scaling."
    Xtr, ytr, Xte, _ = bm
    Xu = Xte * 3 + 1                                                   # other statistics than the labelled series
    clf = TimeMAEClassifier(**TINY, random_state=0, X_unlabelled=Xu).fit(Xtr, ytr)
    std = [f for f in clf.learn_.dls.after_batch.fs if type(f).__name__ == 'TSStandardize'][0]
    both = np.concatenate([Xtr, Xu])
    np.testing.assert_allclose(np.asarray(std.mean).ravel(), both.mean((0, 2)), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(std.std).ravel(), both.std((0, 2)), rtol=1e-4)


def test_the_fitted_learner_predicts_the_labels_themselves(fitted, bm):
    "`learn_` is documented for use with tsai: its vocabulary is classes_, so tsai-side scoring sees real labels."
    from tsai_timemae.evaluate import evaluate_learner, label_vocab, predict_labels
    Xte, yte = bm[2], bm[3]
    assert label_vocab(fitted.learn_) == list(fitted.classes_)
    assert np.array_equal(predict_labels(fitted.learn_, Xte), fitted.predict(Xte))
    assert np.array_equal(np.asarray(fitted.learn_.get_X_preds(Xte)[2]), fitted.predict(Xte))  # tsai's own decoding
    assert evaluate_learner(fitted.learn_, Xte, yte)['accuracy'] == pytest.approx((fitted.predict(Xte) == yte).mean())


def test_predicting_other_lengths_works_too_short_is_a_clear_error(fitted, bm):
    "sktime does not check series length at predict; TimeMAE mean-pools any number of windows."
    assert fitted.predict(bm[2][..., :60]).shape == (40,)
    with pytest.raises(ValueError, match='shorter than one window'):
        fitted.predict(bm[2][..., :5])


def test_bad_input_errors_name_the_fix(bm, fitted):
    Xtr, ytr, Xte, _ = bm
    with pytest.raises(ValueError, match='fitted on series with 6 channels .* X has 1'):
        fitted.predict(Xte[:, :1])                           # tsai's standardization would broadcast it silently
    with pytest.raises(ValueError, match="mode must be 'fineall'"):
        TimeMAEClassifier(**{**TINY, 'mode': 'linear'}).fit(Xtr, ytr)
    with pytest.raises(ValueError, match='missing values'):
        TimeMAEClassifier(**TINY).fit(np.where(np.arange(100) == 3, np.nan, Xtr), ytr)
    with pytest.raises(ValueError, match=r'2-D array .* X\[:, None, :\]'):
        TimeMAETransformer().fit(Xtr[:, 0])
    bad_x = np.where(np.arange(100) == 3, np.nan, Xte)
    with pytest.raises(ValueError, match=r'X_unlabelled has 240 missing or infinite values.*Imputer'):
        TimeMAEClassifier(**TINY, X_unlabelled=bad_x).fit(Xtr, ytr)


def test_fit_without_labels_says_what_to_do(bm):
    with pytest.raises(ValueError, match='fit needs labels y, one per series in X.*X_unlabelled'):
        TimeMAEClassifier(**TINY).fit(bm[0], None)


def test_a_diverged_pretraining_is_refused_not_used(bm):
    """An lr far too high made the encoder NaN: the estimator saved it, and transform returned NaN features without
    an error (the warning pointed into sktime and advised tsai's lr_find)."""
    est = TimeMAETransformer(**ARCH, pretrain_epochs=3, lr=1e12, random_state=0)
    with pytest.warns(UserWarning, match='diverged at epoch') as said, \
         pytest.raises(ValueError, match=r'pretraining diverged.*Lower lr \(now 1e\+12\)'):
        est.fit(bm[0][:16])
    assert [w.filename for w in said if 'diverged' in str(w.message)] == [__file__]


@pytest.mark.parametrize('setting, message', [
    (dict(finetune_epochs=0), 'finetune_epochs must be a whole number of at least 1, got 0'),
    (dict(finetune_epochs='auto'), "finetune_epochs must be a whole number of at least 1, got 'auto'"),
    (dict(batch_size=0), 'batch_size must be a whole number of at least 1'),
    (dict(lr=-1e-3), 'lr must be a number above 0'),
    (dict(finetune_lr=0.), r"finetune_lr must be a number above 0 \(or None"),
])
def test_training_counts_and_rates_are_checked(bm, setting, message):
    "0 fine-tuning epochs once fitted silently and predicted with an untrained head; 'auto' raised a raw TypeError."
    Xtr, ytr = bm[:2]
    with pytest.raises(ValueError, match=message):
        TimeMAEClassifier(**{**TINY, **setting}).fit(Xtr, ytr)


# -- the transformer and scikit-learn ---------------------------------------------------------------------------------
def test_pipeline_linear_probe_on_basic_motions(bm):
    Xtr, ytr, Xte, yte = bm
    probe = make_pipeline(TimeMAETransformer(**ARCH, pretrain_epochs=20, random_state=0), LogisticRegression(max_iter=1000))
    assert probe.fit(Xtr, ytr).score(Xte, yte) >= 0.6
    Z = probe[0].transform(Xte)
    assert Z.shape == (40, 32) and np.isfinite(Z.to_numpy()).all()
    fresh = clone(probe)                                     # scikit-learn can clone it (hyper-parameters only)
    assert fresh[0].get_params() == probe[0].get_params() and not fresh[0].is_fitted
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # scikit-learn >= 1.6 asks each step for `__sklearn_tags__` (sktime has none)
        assert is_classifier(probe)


def test_transformer_pool_flatten_gives_every_patch_in_order(bm, tmp_path):
    "`pool='flatten'`: the same encoder's patches in order (their mean is the default's row); a bad pool is named."
    X = bm[0]
    path = save_encoder_weights(TimeMAE(6, None, **ARCH), tmp_path / 'enc.pth')
    mean = TimeMAETransformer(weights_path=path, n_heads=2).fit_transform(X).to_numpy()
    flat = TimeMAETransformer(weights_path=path, n_heads=2, pool='flatten').fit_transform(X).to_numpy()
    assert flat.shape == (40, 13 * 32)                                      # 100 steps in windows of 8: 13 patches
    np.testing.assert_allclose(flat.reshape(40, 13, 32).mean(1), mean, atol=1e-5)
    with pytest.raises(ValueError, match=r"pool must be one of \('mean', 'flatten'\), got 'max'"):
        TimeMAETransformer(weights_path=path, n_heads=2, pool='max').fit(X)
    fitted = TimeMAETransformer(weights_path=path, n_heads=2, pool='flatten').fit(X)
    with pytest.raises(ValueError, match=r"fitted on \(100 steps, 13 patches of 8\); these have 50.*pool='mean'"):
        fitted.transform(X[:, :, :50])                                      # another length: other columns
    assert fitted.transform(X[:4, :, :97]).shape == (4, 13 * 32)            # the same patches: fine


def test_transformer_layer_gives_that_blocks_features_and_names_a_bad_one(bm, tmp_path):
    "`layer=k`: the fitted learner's `get_embeddings(..., layer=k)`; a block the encoder lacks is named before any work."
    X = bm[0]
    path = save_encoder_weights(TimeMAE(6, None, **ARCH), tmp_path / 'enc.pth')
    t = TimeMAETransformer(weights_path=path, n_heads=2, layer=1).fit(X)
    rows = t.transform(X[:5]).to_numpy()
    np.testing.assert_allclose(rows, get_embeddings(t.learn_, X[:5], layer=1), atol=1e-6)
    last = TimeMAETransformer(weights_path=path, n_heads=2).fit_transform(X[:5]).to_numpy()
    assert not np.allclose(rows, last, atol=1e-3)                           # another block, other features
    with pytest.raises(ValueError, match=r'layer must be a whole number from 0 .* to 2 '):
        TimeMAETransformer(weights_path=path, n_heads=2, layer=3).fit(X)     # the file's depth
    with pytest.raises(ValueError, match=r'layer must be a whole number from 0 .* to 8 '):
        TimeMAETransformer(layer=9).fit(X)                                   # named before pretraining
    assert 'layer' in TimeMAETransformer().get_params()


def test_transformer_pretrains_unless_given_weights(bm, tmp_path):
    X = bm[0]
    kw = dict(**ARCH, random_state=0)
    pretrained = TimeMAETransformer(**kw, pretrain_epochs=5).fit_transform(X).to_numpy()
    random_init = TimeMAETransformer(**kw, pretrain_epochs=0).fit_transform(X).to_numpy()
    assert not np.allclose(pretrained, random_init, atol=1e-3)
    # weights_path: the encoder in the file, unchanged (no pretraining), n_heads from the constructor
    path = save_encoder_weights(TimeMAE(6, None, **ARCH), tmp_path / 'enc.pth')
    with pytest.warns(UserWarning, match=r"weights_path=...\) loads that encoder and pretrains nothing, so "
                                         r"pretrain_epochs=100 is not used"):                 # said, not dropped
        t = TimeMAETransformer(weights_path=path, n_heads=2, pretrain_epochs=100).fit(X)
    own = t.learn_.model.state_dict()
    for k, v in read_encoder_weights(path).items(): assert torch.equal(own[k], v), k
    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)
        TimeMAETransformer(weights_path=path, n_heads=2).fit(X[:4])                   # the defaults: nothing to say


# -- get_embeddings -----------------------------------------------------------------------------------------------------
def test_embeddings_are_what_the_head_sees_after_the_learners_transforms(fitted, bm):
    learn, X = fitted.learn_, bm[2][:8]
    model = learn.model
    Z = get_embeddings(learn, X, bs=3)                       # batches of 3: order kept
    assert Z.shape == (8, 32)
    std = learn.dls.after_batch[0]                           # the learner's fitted TSStandardize
    Xs = ((torch.from_numpy(X).float() - std.mean) / std.std).numpy()
    np.testing.assert_allclose(get_embeddings(model, Xs), Z, atol=1e-5)   # a bare model takes X as given
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(Xs))
    np.testing.assert_allclose(model.head[-1](torch.from_numpy(Z)).detach().numpy(), logits.numpy(), atol=1e-4)


def test_get_embeddings_restores_train_mode_and_rejects_bad_input():
    model = TimeMAE(3, None, **ARCH).train()
    X = np.random.default_rng(0).normal(size=(5, 3, 40)).astype(np.float32)
    Z = get_embeddings(model, X)
    np.testing.assert_array_equal(Z, get_embeddings(model, X))   # eval mode inside: no dropout
    assert model.training
    with pytest.raises(ValueError, match='3-D array'):
        get_embeddings(model, X[:, 0])
    with pytest.raises(ValueError, match='built for 3 channels'):
        get_embeddings(model, X[:, :2])
    with pytest.raises(TypeError, match='TimeMAE model'):
        get_embeddings(torch.nn.Linear(3, 3), X)


def test_docstring_examples_run():
    "The Examples sections sktime asks for (and users copy) run as written."
    import doctest
    import tsai_timemae.sktime as module
    result = doctest.testmod(module)
    assert result.attempted >= 10 and result.failed == 0


def test_no_window_and_auto_epochs_size_themselves_from_the_data(bm, monkeypatch):
    "window=None takes auto_window(length); pretrain_epochs='auto' takes default_pretrain_epochs (issue 14: sizes)."
    import tsai_timemae.sktime as sk
    Xtr, ytr = bm[0][FEW], bm[1][FEW]
    seen = {}
    orig = sk._pretrain_epochs
    monkeypatch.setattr(sk, '_pretrain_epochs', lambda est, n: seen.setdefault('epochs', (n, orig(est, n)))[1] and 2)
    small = {k: v for k, v in ARCH.items() if k != 'window'}
    clf = TimeMAEClassifier(**small, finetune_epochs=1, random_state=0).fit(Xtr, ytr)
    assert clf.window is None and clf.pretrain_epochs == 'auto'            # sklearn's rule: parameters stay as given
    assert clf.learn_.model.backbone.window == 7                            # BasicMotions: 100 steps -> 7
    assert seen['epochs'] == (8, 100)                                       # 8 series, 1 step per epoch: 100 epochs
    with pytest.raises(ValueError, match="pretrain_epochs must be 'auto' or a whole number"):
        TimeMAEClassifier(**small, pretrain_epochs=-1).fit(Xtr, ytr)


# -- TimeMAEPretrain's other options ------------------------------------------------------------------------------------
@pytest.mark.parametrize('est_cls', [TimeMAEClassifier, TimeMAETransformer])
def test_pretrain_kwargs_reach_the_pretraining_callback(bm, monkeypatch, est_cls):
    "Options without a parameter of their own (target_layers, momentum_end, ...) reached no sktime user before."
    import tsai_timemae.sktime as sk
    seen = []
    init = sk.TimeMAEPretrain.__init__
    @functools.wraps(init)  # keeps the signature the estimator checks the options against
    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        init(self, *args, **kwargs)
    monkeypatch.setattr(sk.TimeMAEPretrain, '__init__', spy)
    Xtr, ytr = bm[0][FEW], bm[1][FEW]
    tiny = {k: v for k, v in TINY.items() if k in est_cls().get_params()}
    est = est_cls(**tiny, pretrain_kwargs={'momentum_end': 0.999, 'masking': 'span'})
    est.fit(Xtr, ytr)
    assert seen and seen[-1]['momentum_end'] == 0.999 and seen[-1]['masking'] == 'span'
    assert clone(est).get_params()['pretrain_kwargs'] == {'momentum_end': 0.999, 'masking': 'span'}
    # an option the callback checks against the encoder: its own error, not a silently ignored setting
    with pytest.raises(ValueError, match='target_layers=2 asks for more blocks than the encoder has'):
        est_cls(**tiny, pretrain_kwargs={'target_layers': 2}).fit(Xtr, ytr)


@pytest.mark.parametrize('est_cls', [TimeMAEClassifier, TimeMAETransformer])
@pytest.mark.parametrize('options, message', [
    ({'mask_ratio': 0.5}, r"pretrain_kwargs sets 'mask_ratio', a parameter of {name} itself: pass mask_ratio="),
    ({'target_dir': '/tmp/x'}, "pretrain_kwargs sets 'target_dir', but {name} pretrains in a temporary"),
    ({'init_scheme': 'authors'}, "pretrain_kwargs sets 'init_scheme', which must match how the encoder is built"),
    ({'target_layer': 2}, r"pretrain_kwargs has 'target_layer', which TimeMAEPretrain does not take\. Its other options: .*target_layers"),
    ({'target_context': 'all'}, "target_context must be 'masked'"),       # a value, checked as TimeMAEPretrain checks it
    ([('target_layers', 2)], 'pretrain_kwargs must be None or a dict'),
])
def test_bad_pretrain_kwargs_are_named_before_any_training(bm, options, message, est_cls):
    "Named even when nothing would be pretrained (pretrain_epochs=0): a typo in an option is never silently ignored."
    Xtr, ytr = bm[:2]
    tiny = {k: v for k, v in TINY.items() if k in est_cls().get_params()}
    with pytest.raises(ValueError, match=message.format(name=est_cls.__name__)):
        est_cls(**{**tiny, 'pretrain_epochs': 0}, pretrain_kwargs=options).fit(Xtr, ytr)


def test_importing_and_fitting_leaves_a_sktime_users_warnings_alone():
    """A sktime user never imports tsai, whose modules ignore every UserWarning (so every scikit-learn
    ConvergenceWarning) and every FutureWarning when first imported: importing this module and fitting restore the
    user's filters, and fastai's `torch.jit.script` notice is not printed."""
    import subprocess, sys
    code = ('import warnings\nimport numpy as np\nfrom tsai_timemae.sktime import TimeMAEClassifier\n'
            "X = np.random.randn(12, 2, 20).astype('float32'); y = np.array([0, 1] * 6)\n"
            'TimeMAEClassifier(d_model=8, n_layers=1, n_heads=1, d_ff=16, pretrain_epochs=1, finetune_epochs=1, '
            'batch_size=4).fit(X, y)\n'
            'from sklearn.linear_model import LogisticRegression\n'
            'LogisticRegression(max_iter=1).fit(np.random.rand(50, 5), np.random.rand(50) > .5)\n'
            "warnings.warn('a plain FutureWarning', FutureWarning)\n")
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300,
                         env={**__import__('os').environ, 'OMP_NUM_THREADS': '1'})
    assert run.returncode == 0, run.stderr[-2000:]
    assert 'ConvergenceWarning' in run.stderr and 'a plain FutureWarning' in run.stderr, run.stderr[-2000:]
    assert 'torch.jit.script' not in run.stderr, run.stderr[-2000:]


def test_scikit_learns_check_is_fitted_tells_a_fresh_classifier_from_a_fitted_one(bm):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted
    from tsai_timemae.sktime import TimeMAEClassifier
    with pytest.raises(NotFittedError):
        check_is_fitted(TimeMAEClassifier())        # sktime sets classes_ in __init__, which scikit-learn took as fitted
    Xtr, ytr = bm[:2]
    tiny = {k: v for k, v in TINY.items() if k in TimeMAEClassifier().get_params()}
    check_is_fitted(TimeMAEClassifier(**tiny).fit(Xtr, ytr))


@pytest.mark.parametrize('est_cls', [TimeMAEClassifier, TimeMAETransformer])
def test_a_fit_on_more_channels_than_steps_warns_once_not_once_per_model(est_cls):
    "Pretraining and fine-tuning (or the feature model) each build a TimeMAE; the channels-last warning is said once."
    import warnings
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 12, 10)).astype('float32'), np.array([0, 1] * 6)
    tiny = {k: v for k, v in {**TINY, 'window': 4}.items() if k in est_cls().get_params()}
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        est_cls(**tiny).fit(X, y)
    said = [x for x in w if 'more channels (12) than time steps (10)' in str(x.message)]
    assert len(said) == 1, [str(x.message)[:80] for x in w]
    assert said[0].filename == __file__  # the user's line, not contextlib's (the warning is said deep inside sktime's fit)
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    search = (make_pipeline(est_cls(**tiny), LogisticRegression()) if est_cls is TimeMAETransformer else
              GridSearchCV(est_cls(**tiny), {'lr': [1e-3]}, cv=2))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        search.fit(X, y)                                       # it named scikit-learn's line in the pipeline or search
    assert {x.filename for x in w if 'more channels (12)' in str(x.message)} == {__file__}


def test_a_refit_that_fails_its_checks_leaves_no_earlier_model_to_predict_with(bm):
    "The label checks (classifier) and every transformer check ran before the reset: the old model kept predicting."
    X, y = bm[0][FEW], bm[1][FEW]
    clf = TimeMAEClassifier(**TINY, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match='missing'): clf.fit(X, np.where(np.arange(len(y)) == 2, None, y))
    assert not clf.is_fitted
    with pytest.raises(NotFittedError): clf.predict(X[:2])
    clf.fit(X, y)
    with pytest.raises(ValueError, match='needs labels'): clf.fit(X, None)
    assert not clf.is_fitted
    t = TimeMAETransformer(**TimeMAETransformer.get_test_params()[0]).fit(X)
    with pytest.raises(ValueError): t.fit(X[:, 0])                 # a 2-D array: refused before sktime's fit
    assert not t.is_fitted


def test_unlabelled_series_with_nan_are_told_to_impute_x_unlabelled_itself(bm):
    "The fix named a pipeline, which imputes X and never the X_unlabelled parameter: the same error again."
    Xu = bm[0][::4].copy(); Xu[0, 0, 3] = np.nan
    with pytest.raises(ValueError, match=r'X_unlabelled has 1 missing.*X_unlabelled = Imputer') as e:
        TimeMAEClassifier(**TINY, X_unlabelled=Xu).fit(bm[0][FEW], bm[1][FEW])
    assert 'FitInTransform' not in str(e.value)


def test_series_longer_than_max_seq_len_name_the_estimators_parameter(bm):
    "The model's message named tsai's ts_learner, which an sktime user does not call."
    X, y = bm[0][FEW][..., :40], bm[1][FEW]
    clf = TimeMAEClassifier(**{**TINY, 'max_seq_len': 40}, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r'Series of 100 steps are longer than the 40.*TimeMAEClassifier\(max_seq_len=100') as e:
        clf.predict(bm[0][:2])
    assert 'ts_learner' not in str(e.value)


def test_the_channels_warning_names_a_users_line_whatever_the_users_folders_are_called(tmp_path):
    "Frames were skipped by folder name: a script in a folder called `sktime` (or a clone called tsai_timemae) lost it."
    import subprocess
    import sys
    script = tmp_path / 'sktime' / 'run.py'
    script.parent.mkdir()
    script.write_text("import warnings, numpy as np\n"
                      "from tsai_timemae.sktime import TimeMAETransformer\n"
                      "X = np.random.default_rng(0).standard_normal((8, 12, 10)).astype('float32')\n"
                      "with warnings.catch_warnings(record=True) as w:\n"
                      "    warnings.simplefilter('always')\n"
                      "    TimeMAETransformer(window=4, d_model=8, n_layers=1, n_heads=1, d_ff=16, pretrain_epochs=1).fit(X)\n"
                      "said = [x for x in w if 'more channels' in str(x.message)]\n"
                      "print(said[0].filename, said[0].lineno)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, 'OMP_NUM_THREADS': '1'}, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == [str(script), '6'], out.stdout[-500:]


def test_transformer_with_a_weights_file_refuses_a_window_or_length_that_contradicts_it(bm, tmp_path):
    "They used to be dropped without a word (the file's window was used); the file's own values still pass."
    X = bm[0][:8]
    path = save_encoder_weights(TimeMAE(6, None, **ARCH), tmp_path / 'enc.pth')
    assert TimeMAETransformer(weights_path=path, n_heads=2, window=8).fit(X).learn_.model.backbone.window == 8
    # in the estimator's words: the learners' shape dump advised reinit=, which the estimators do not have
    with pytest.raises(ValueError, match=r'^The encoder in weights_path was saved with window=8, and TimeMAETransformer '
                                         r'was given window=10\. Leave window out: the file decides it\.$'):
        TimeMAETransformer(weights_path=path, n_heads=2, window=10).fit(X)
    with pytest.raises(ValueError, match=r'saved with max_seq_len=8192.*given max_seq_len=200\. Leave max_seq_len out.*'
                                         'longer than its max_seq_len need an encoder pretrained with a longer one'):
        TimeMAETransformer(weights_path=path, n_heads=2, max_seq_len=200).fit(X)


def test_classifier_takes_multioutput_labels_of_text_and_numbers(bm):
    "sktime fits a clone per column and sorts each column apart: a text column beside a number column is fine."
    import pandas as pd
    X, y = bm[0][FEW], np.asarray(bm[1])[FEW]
    Y = pd.DataFrame({'motion': y, 'first': (y == y[0]).astype(int)})
    pred = TimeMAEClassifier(**TINY).fit(X, Y).predict(X[:3])
    assert list(pred.columns) == ['motion', 'first'] and set(pred['first']) <= {0, 1} and set(pred['motion']) <= set(y)
    Y.loc[Y.index[-1], 'motion'] = None                          # each column's own checks still run
    with pytest.raises(ValueError, match='labels in y are missing'):
        TimeMAEClassifier(**TINY).fit(X, Y)


@pytest.mark.parametrize('mode', ['finelast', 'fineall'])
def test_the_classifier_pretrains_on_every_series_given_and_fine_tunes_from_that_encoder(bm, monkeypatch, mode):
    """The other classifier tests pass with pretraining skipped, or on X alone (a random encoder already scores above
    their bars): here the pretraining sees X and X_unlabelled, and fine-tuning starts from the encoder it saved, which
    FineLast keeps frozen while its head trains and FineAll goes on training."""
    import tsai_timemae.sktime as sk
    from conftest import assert_same_state
    seen, built, real_pretrain, real_learner = [], [], sk._pretrain, sk._learner
    def pretrain(est, X, tmp, std=None):
        path = real_pretrain(est, X, tmp, std)
        seen.append((len(X), {k: v.clone() for k, v in read_encoder_weights(path).items()}))
        return path
    def learner(*a, **k):
        learn = real_learner(*a, **k)
        built.append({k: v.clone() for k, v in learn.model.state_dict().items() if k.startswith('backbone.')})
        return learn
    initial, real_ts_learner = [], sk.ts_learner
    def ts_learner(*a, **k):  # the pretraining learner's encoder before it trains
        learn = real_ts_learner(*a, **k)
        if isinstance(k.get('cbs'), sk.TimeMAEPretrain):
            initial.append({n: v.clone() for n, v in learn.model.state_dict().items() if n.startswith('backbone.')})
        return learn
    monkeypatch.setattr(sk, '_pretrain', pretrain)
    monkeypatch.setattr(sk, '_learner', learner)
    monkeypatch.setattr(sk, 'ts_learner', ts_learner)
    Xtr, ytr, Xte, _ = bm
    clf = TimeMAEClassifier(**{**TINY, 'mode': mode}, random_state=0, X_unlabelled=Xte).fit(Xtr, ytr)
    ((n, encoder),), (start,), (before,) = seen, built, initial
    assert n == len(Xtr) + len(Xte)
    assert any(not torch.equal(before[k], encoder[k]) for k in encoder)        # it pretrained
    assert_same_state(start, encoder)                                           # fine-tuning starts from it
    after = {k: v for k, v in clf.learn_.model.state_dict().items() if k.startswith('backbone.')}
    if mode == 'finelast': assert_same_state(after, encoder)                    # frozen, norm layers too
    else: assert any(not torch.equal(after[k], encoder[k]) for k in encoder)    # trained on
    TimeMAEClassifier(**{**TINY, 'mode': mode}, random_state=0).fit(Xtr, ytr)
    assert seen[-1][0] == len(Xtr)                                              # without X_unlabelled: X alone


def test_switches_given_as_text_and_bad_settings_with_nothing_to_pretrain_are_refused(bm):
    """`normalize_targets='False'` normalised the targets and `verbose='no'` printed every table (text is truthy);
    `TimeMAETransformer(pretrain_epochs=0)` accepted settings that would fail the classifier (`tokenizer='bogus'`)."""
    X, y = bm[0][:8], bm[1][:8]
    for kw in ({'normalize_targets': 'False'}, {'verbose': 'no'}):
        with pytest.raises(TypeError, match=f'{next(iter(kw))} must be True or False'): TimeMAEClassifier(**TINY, **kw).fit(X, y)
    TimeMAEClassifier(**{**TINY, 'verbose': 0}).fit(bm[0][FEW], bm[1][FEW])  # scikit-learn's whole numbers stay accepted
    tiny = {k: v for k, v in TINY.items() if k in TimeMAETransformer().get_params()}
    for kw, match in (({'tokenizer': 'bogus'}, 'tokenizer must be one of'),
                      ({'normalize_targets': 'yes'}, 'normalize_targets must be True or False'),
                      ({'alpha': -3.}, 'loss weights must be 0 or more')):
        with pytest.raises((TypeError, ValueError), match=match): TimeMAETransformer(**{**tiny, 'pretrain_epochs': 0, **kw}).fit(X)


def test_importing_the_sktime_module_leaves_pandas_options_alone():
    "fastai's import set `mode.chained_assignment='raise'`: a user's chained assignment would raise, not warn."
    import subprocess
    import sys
    code = ("import pandas as pd; before = pd.get_option('mode.chained_assignment'), pd.get_option('display.max_colwidth');"
            "import tsai_timemae.sktime; print(before == (pd.get_option('mode.chained_assignment'), pd.get_option('display.max_colwidth')))")
    out = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().endswith('True'), out.stdout + out.stderr[-1000:]



def test_series_shorter_than_a_window_name_the_estimators_window_not_a_learners_reinit(bm):
    "The model's fix names `reinit='patch_embed'`, a tsai learner's option the estimators do not have."
    clf = TimeMAEClassifier(**TINY).fit(bm[0][FEW], bm[1][FEW])
    with pytest.raises(ValueError, match=r'shorter than one window .*TimeMAEClassifier\(window=2') as e: clf.predict(bm[2][:2, :, :2])
    assert 'reinit' not in str(e.value)


def test_numpy_learning_rates_fit_and_a_fit_time_window_too_long_names_the_estimators_window(bm):
    """`lr=np.float64(1e-3)` (what np.logspace grids give) crashed in fastai; series shorter than the window at fit time
    got the model's words (reinit=, an encoder pretrained already), and window=n then failed in masking."""
    X, y = bm[0][FEW], bm[1][FEW]
    TimeMAEClassifier(**{**TINY, 'lr': np.float64(1e-3), 'finetune_lr': np.float32(1e-3)}).fit(X, y)
    with pytest.raises(ValueError, match=r'Series of 6 steps are shorter than one window \(8 steps\).*Pad them to at least 9 '
                                         r'steps, or fit with `TimeMAEClassifier\(window=5, \.\.\.\)`.*at least two') as e:
        TimeMAEClassifier(**{**TINY, 'window': 8}).fit(X[..., :6], y)
    assert 'reinit' not in str(e.value)
    with pytest.raises(ValueError, match=r'at least 8 steps, or fit with `TimeMAEClassifier\(window=6, \.\.\.\)` or a smaller window\.$'):
        TimeMAEClassifier(**{**TINY, 'window': 8, 'pretrain_epochs': 0}).fit(X[..., :6], y)


def test_fits_in_threads_run_one_at_a_time_and_leave_stdout_and_seeds_alone(bm):
    "Two fits in threads exited each other's stdout redirection and seeding out of order: stdout stayed swallowed."
    import sys, threading
    X, y = bm[0][FEW], bm[1][FEW]
    alone = TimeMAEClassifier(**TINY, random_state=0).fit(X, y).predict_proba(X)
    out, clfs = sys.stdout, [TimeMAEClassifier(**TINY, random_state=0) for _ in range(2)]
    threads = [threading.Thread(target=c.fit, args=(X, y)) for c in clfs]
    for t in threads: t.start()
    for t in threads: t.join()
    assert sys.stdout is out
    for c in clfs: np.testing.assert_allclose(c.predict_proba(X), alone, atol=1e-6)


def _fit_in_thread_while(est, X, y, call):
    "Fit `est` in a thread while this thread calls `call()` over and over; the number of calls made during the fit."
    import threading
    t = threading.Thread(target=est.fit, args=(X, y))
    t.start()
    n = 0
    while t.is_alive(): call(); n += 1
    t.join()
    return n


def test_predictions_and_checks_during_a_fit_in_another_thread_leave_that_fit_alone(bm):
    """A prediction or transform made while another thread fitted drew seeds from the random streams that fit was
    drawing from, then restored them under it; another estimator's settings check built a model (drawing weights).
    Each changed the seeded fit's result (probabilities off by up to 0.3), and made threaded fits flaky."""
    X, y = bm[0][FEW], bm[1][FEW]
    alone = TimeMAEClassifier(**TINY, random_state=0).fit(X, y).predict_proba(X)
    fitted = TimeMAEClassifier(**TINY, random_state=1).fit(X, y)
    tr = TimeMAETransformer(**TimeMAETransformer.get_test_params()[0], random_state=1).fit(X)
    one_class = np.full(len(X), 'walking')
    calls = {'predict_proba': lambda: fitted.predict_proba(X[:2]), 'predict': lambda: fitted.predict(X[:2]),
             'transform': lambda: tr.transform(X[:3]), 'fit with one class': lambda: TimeMAEClassifier(**TINY).fit(X, one_class)}
    for name, call in calls.items():
        clf = TimeMAEClassifier(**TINY, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # one class: said, and nothing fitted (sktime's shortcut after our checks)
            assert _fit_in_thread_while(clf, X, y, call) > 0
        np.testing.assert_allclose(clf.predict_proba(X), alone, atol=1e-6, err_msg=name)


def test_prints_of_other_threads_during_a_quiet_fit_are_kept(bm):
    "The quiet fit swapped the process's stdout: what the main thread printed while a fit ran in another thread was lost."
    import contextlib, io, sys
    X, y = bm[0][FEW], bm[1][FEW]
    import itertools
    buf, lines = io.StringIO(), itertools.count()
    with contextlib.redirect_stdout(buf):                      # as fast as it can: printing while the fit puts
        # stdout back crashed the interpreter (print() holds sys.stdout without a reference between its writes)
        n = _fit_in_thread_while(TimeMAEClassifier(**TINY, random_state=0), X, y, lambda: print('main', next(lines)))
        after = sys.stdout
    assert after is buf                                        # the fit put back the stream it replaced
    printed = buf.getvalue().splitlines()
    assert len(printed) == n and all(p == f'main {i}' for i, p in enumerate(printed))  # every line, none of the fit's


def test_fit_time_window_advice_with_weights_path_and_a_prediction_during_another_fit(bm, tmp_path):
    """With weights_path the window is the file's: the advice said to change it (the file then refused it). Padding to
    window + 1 steps gives two patches (it said twice the window). A prediction waited for another estimator's whole fit."""
    import threading, time
    from tsai_timemae.all import TimeMAE, save_encoder_weights
    X, y = bm[0][FEW], bm[1][FEW]
    w = save_encoder_weights(TimeMAE(6, None, window=8, d_model=8, n_layers=1, n_heads=1, d_ff=16), tmp_path / 'enc.pth')
    with pytest.raises(ValueError, match=r'one window \(8 steps\) of the encoder in weights_path, which keeps its window: pad them to at least 8 steps\.$'):
        TimeMAETransformer(weights_path=w, n_heads=1).fit(X[..., :6])
    with pytest.raises(ValueError, match=r'Pad them to at least 9 steps, or fit with `TimeMAEClassifier\(window=5'):
        TimeMAEClassifier(**{**TINY, 'window': 8}).fit(X[..., :6], y)
    a = TimeMAEClassifier(**{**TINY, 'pretrain_epochs': 0}).fit(X, y)
    from tsai_timemae import sktime as sk
    with sk._FITTING:                                          # another estimator's fit in progress
        t = threading.Thread(target=a.predict, args=(X[:2],))
        t.start(); t.join(timeout=60)
        assert not t.is_alive()                                # predicted without waiting for the fit


def test_transform_of_hierarchical_data_after_a_panel_fit_names_the_fix(bm):
    "sktime handed the groups through whole: the error read 'fitted on series with 6 channels but X has 800, transpose'."
    import pandas as pd
    from sktime.datatypes import convert_to
    X = bm[0][FEW]
    panel = convert_to(X, 'pd-multiindex')
    hier = pd.concat({'a': panel, 'b': panel}, names=['group'])
    tr = TimeMAETransformer(**TimeMAETransformer.get_test_params()[0], random_state=0).fit(X)
    with pytest.raises(ValueError, match=r'hierarchical data .* fit got a Panel.*X\.xs\(group, level=0\)'):
        tr.transform(hier)
    np.testing.assert_allclose(tr.transform(hier.xs('a', level=0)).to_numpy(), tr.transform(X).to_numpy(), atol=1e-6)


def test_quiet_output_swallows_writelines_copies_and_keeps_few_streams_alive():
    """The fit's stdout passed writelines through to the console, recursed forever when copied, and kept every stream
    it had replaced (a user's capture buffer, pytest's) and every fitting thread alive for the life of the process."""
    import contextlib, copy, gc, io, sys, threading, weakref
    from tsai_timemae.sktime import _silent
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), _silent(False):
        sys.stdout.writelines(['fit line\n'])
        print('fit print')
        copy.copy(sys.stdout)
    assert buf.getvalue() == ''
    def quiet_fit():
        with _silent(False): print('fit print')
    refs = []
    for _ in range(40):                                        # a fit in a thread, each with its own capture buffer
        b, t = io.StringIO(), threading.Thread(target=quiet_fit)
        with contextlib.redirect_stdout(b): t.start(); t.join()
        assert b.getvalue() == ''
        refs += [weakref.ref(b), weakref.ref(t)]
        del b, t
    gc.collect()
    assert sum(r() is not None for r in refs) <= 16           # the last few buffers, no thread


def test_warning_filters_and_cudnn_flags_set_during_a_fit_in_another_thread_are_kept(bm):
    """A fit swapped in its own copy of the process's warning filters (`catch_warnings`) for its whole length: a filter
    the main thread added meanwhile went into the copy, and was gone when the fit ended. The seeded fit's end put back
    cuDNN's flags as they were before it, over what another thread had set meanwhile."""
    import threading, time
    from tsai_timemae.sktime import _FITTING
    X, y = bm[0], bm[1]                                        # 40 series: no warning from the fit itself
    clf = TimeMAEClassifier(**{**TINY, 'pretrain_epochs': 5}, random_state=0)
    with warnings.catch_warnings():                            # this test's own changes end with it
        t = threading.Thread(target=clf.fit, args=(X, y))
        t.start()
        while _FITTING.acquire(blocking=False):                # until the fit holds its lock
            _FITTING.release()
            time.sleep(0.01)
        time.sleep(0.05)                                       # and has entered its blocks
        warnings.filterwarnings('ignore', message='a filter added during the fit')
        assert t.is_alive()                                    # added while it ran (5 pretraining epochs)
        benchmark, torch.backends.cudnn.benchmark = torch.backends.cudnn.benchmark, True  # the seeding turns it off
        t.join()
        assert any(f[1] is not None and f[1].pattern == 'a filter added during the fit' for f in warnings.filters)
    try: assert torch.backends.cudnn.benchmark is True         # the seeded fit put back its value from before
    finally: torch.backends.cudnn.benchmark = benchmark


def test_the_transformer_keeps_the_series_ids_so_features_join_by_id(basic_motions):
    """sktime's numpy3D inner type dropped the ids: rows came back as 0..n-1, so a FeatureUnion beside a transformer
    that keeps them (Catch22, SummaryTransformer) doubled the rows, half of them NaN, and a join by id mislabelled."""
    import pandas as pd
    from sktime.transformations.series.summarize import SummaryTransformer
    X = convert_to(basic_motions[0][FEW], 'pd-multiindex')
    ids = [107, 3, 55, 20, 9, 81, 64, 12]  # unsorted: the order sktime converts them in
    X.index = pd.MultiIndex.from_arrays([np.repeat(ids, 100), X.index.get_level_values(1)], names=['case', 'timepoints'])
    tr = TimeMAETransformer(**TimeMAETransformer.get_test_params()[0], random_state=0)
    feats = tr.fit_transform(X)
    assert feats.index.tolist() == ids and feats.index.name == 'case'
    assert np.allclose(feats.to_numpy(), tr.transform(basic_motions[0][FEW]).to_numpy(), atol=1e-6)  # same rows, in order
    nested = convert_to(X, 'nested_univ')
    assert tr.transform(nested).index.tolist() == ids
    union = (TimeMAETransformer(**TimeMAETransformer.get_test_params()[0], random_state=0) + SummaryTransformer()).fit_transform(X)
    assert union.shape[0] == len(ids) and not union.isna().any(axis=None)
    # rows ordered by time step first: sktime's reshape scrambled the series, and the ids would then name wrong rows
    by_time = X.sort_index(level='timepoints', sort_remaining=False)
    assert by_time.index.get_level_values(0)[:8].tolist() == ids  # the first row of every series, then the second ...
    interleaved = tr.transform(by_time)
    assert interleaved.index.tolist() == ids and np.allclose(interleaved.to_numpy(), feats.to_numpy(), atol=1e-6)
    # hierarchical data: sktime transforms group by group and kept only the groups' level
    H = X.copy()
    H.index = pd.MultiIndex.from_arrays([np.repeat(['g1', 'g2'], 400), *(H.index.get_level_values(i) for i in (0, 1))],
                                        names=['group', 'case', 'timepoints'])
    hier = (TimeMAETransformer(**TimeMAETransformer.get_test_params()[0], random_state=0) + SummaryTransformer()).fit_transform(H)
    assert hier.index.tolist() == [(g, i) for g, i in zip(np.repeat(['g1', 'g2'], 4), ids)] and not hier.isna().any(axis=None)


def test_settings_are_refused_in_the_estimators_words(basic_motions):
    "numpy's 'cannot be used to seed' named no setting; a fix said `decoupled=False`, which the estimator does not take."
    X, y = basic_motions[0][FEW], basic_motions[1][FEW]
    for bad in ('0', 1.5, -1, True):
        with pytest.raises(ValueError, match=r'random_state must be None, a whole number from 0 to 2\*\*32 - 1'):
            TimeMAEClassifier(**{**TINY, 'random_state': bad}).fit(X, y)
        with pytest.raises(ValueError, match=r'random_state must be None'):
            TimeMAETransformer(**{**TimeMAETransformer.get_test_params()[0], 'random_state': bad}).fit(X)
    with pytest.raises(ValueError, match=r"pass pretrain_kwargs=\{'decoupled': False\}") as e:
        TimeMAEClassifier(**{**TINY, 'n_decoder_layers': 0}).fit(X, y)
    assert 'pass decoupled=False' not in str(e.value)
    with warnings.catch_warnings(record=True) as seen:  # the fix works, and 0 layers is not told it changes nothing
        warnings.simplefilter('always')
        TimeMAEClassifier(**{**TINY, 'n_decoder_layers': 0, 'pretrain_kwargs': {'decoupled': False}}).fit(X, y)
    assert not [w for w in seen if 'leaves the decoupled encoder out' in str(w.message)]


def test_fit_keeps_the_epochs_losses_and_the_tokenizers_warnings_name_the_users_line(basic_motions):
    """Without `verbose=True` nothing told whether training converged; a tokenizer warning named a line of torch's
    (`_contextlib.py`), so a filter on the user's module missed it."""
    X, y = basic_motions[0][FEW], basic_motions[1][FEW]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        clf = TimeMAEClassifier(**{**TINY, 'vocab_size': 256, 'pretrain_epochs': 2, 'finetune_epochs': 3}).fit(X, y)
    ours = [w for w in seen if 'KMeansTokenizer' in str(w.message)]
    assert ours and all(w.filename == __file__ for w in ours), [(w.filename, str(w.message)[:60]) for w in ours]
    assert [h['epoch'] for h in clf.pretrain_history_] == [0, 1] and all(np.isfinite(h['train_loss']) for h in clf.pretrain_history_)
    assert [h['epoch'] for h in clf.finetune_history_] == [0, 1, 2] and all(np.isfinite(h['train_loss']) for h in clf.finetune_history_)
    assert TimeMAEClassifier(**{**TINY, 'pretrain_epochs': 0}).fit(X, y).pretrain_history_ == []
    tr = TimeMAETransformer(**{**TimeMAETransformer.get_test_params()[0], 'pretrain_epochs': 2}).fit(X)
    assert len(tr.pretrain_history_) == 2


def test_the_classifier_fine_tunes_an_encoder_file_without_pretraining(bm, tmp_path, monkeypatch):
    """Pretrain once, then tune fine-tuning settings: with `weights_path` every candidate and fold fine-tunes the same
    encoder instead of pretraining anew (GridSearchCV pretrained 13 times for 4 candidates x 3 folds). The file's sizes
    are used (here 1 head, against the default of 4); unused pretraining settings are named."""
    import tsai_timemae.sktime as sk
    from tsai_timemae.notices import TimeMAEWarning
    X, y = bm[0][FEW], bm[1][FEW]
    path = save_encoder_weights(TimeMAETransformer(**TimeMAETransformer.get_test_params()[0], random_state=0).fit(X).learn_.model,
                                tmp_path / 'enc.pth')
    def no_pretraining(*a, **k): raise AssertionError('pretrained although weights_path was given')
    monkeypatch.setattr(sk, '_pretrain', no_pretraining)
    clf = TimeMAEClassifier(weights_path=path, finetune_epochs=1, batch_size=4, random_state=0).fit(X, y)
    assert clf.predict_proba(bm[2][:5]).shape == (5, 4) and clf.pretrain_history_ == []
    config = clf.learn_.model.backbone.config   # the file's sizes, against the estimator's defaults (8, 64, 8, 4)
    assert (config['window'], config['d_model'], config['n_layers'], config['n_heads']) == (4, 8, 1, 1)
    with pytest.warns(TimeMAEWarning, match=r"weights_path=...\) loads that encoder and pretrains nothing, so alpha=0.5, "
                                            r"X_unlabelled are not used"):
        TimeMAEClassifier(weights_path=path, alpha=0.5, X_unlabelled=bm[2], finetune_epochs=1, batch_size=4).fit(X, y)
    assert 'weights_path' in clone(clf).get_params()
    # lr is FineAll's fine-tuning rate without finetune_lr: used, so not named (leaving it out would change the fit)
    with warnings.catch_warnings():
        warnings.simplefilter('error', TimeMAEWarning)
        TimeMAEClassifier(weights_path=path, lr=3e-4, finetune_epochs=1, batch_size=4).fit(X, y)
    with pytest.warns(TimeMAEWarning, match=r'so lr=0.0003 is not used') as rec:   # reached through sktime's fit_predict
        TimeMAEClassifier(weights_path=path, mode='finelast', lr=3e-4, finetune_epochs=1, batch_size=4).fit_predict(X, y)
    assert [r.filename for r in rec] == [__file__]                                   # the user's line, not sktime's
    # n_heads=None (the default) takes the file's 1 head; a given one must be the file's
    with pytest.raises(ValueError, match=r'saved with n_heads=1, and n_heads=4 was asked for.*Leave n_heads out'):
        TimeMAEClassifier(weights_path=path, n_heads=4, finetune_epochs=1, batch_size=4).fit(X, y)
    assert TimeMAEClassifier().get_params()['n_heads'] is None


def test_a_fit_under_a_launcher_is_refused_before_any_work(bm, monkeypatch):
    """Under torchrun every process ran the whole fit alone, and pretraining's refusal asked for a
    `timemae_distrib_ctx(learn)` around a learner an sktime user never sees."""
    X, y = bm[0][:8], bm[1][:8]
    monkeypatch.setenv('WORLD_SIZE', '2')
    for est in (TimeMAEClassifier(**TINY), TimeMAETransformer(**TimeMAETransformer.get_test_params()[0])):
        with pytest.raises(RuntimeError, match=r'launched in 2 processes .*the sktime estimators train in one process: '
                                               r'run the script with python'):
            est.fit(X, y)
        assert not est.is_fitted



def test_one_series_given_alone_to_predict_is_named_with_the_indexing_that_fixes_it(bm, fitted):
    """sktime reads a 2-D array as univariate series in rows and a plain DataFrame as such a table: one
    [channels, steps] series was refused as '1 channel' with a transpose hint that failed on a DataFrame, and a 1-D
    series got sktime's list of formats."""
    import pandas as pd
    one = bm[2][0]                                                      # [6, 100]
    for X, fix in ((one, r'X\[None\]'), (torch.as_tensor(one), r'X\[None\]'), (one.T, r'X\.T\[None\]'),
                   (pd.DataFrame(one.T), r'X\.to_numpy\(\)\.T\[None\]')):
        for method in (fitted.predict, fitted.predict_proba):
            with pytest.raises(ValueError, match=r'one series of 6 (channels|variables).*' + fix):
                method(X)
    with pytest.raises(ValueError, match=r'one series of 100 steps and one channel, but TimeMAEClassifier was fitted on 6'):
        fitted.predict(one[0])
    assert fitted.predict(one[None]).shape == (1,)                      # the fix works


def test_a_verbose_fit_warns_nothing_about_the_empty_validation_loader(bm):
    """The estimators' learners have no validation series: verbose, fastai's bar over the empty validation loader
    warned 'Your generator is empty' at every epoch; the learner kept is left as fastai made it."""
    import pickle
    X, y = bm[0][::4], bm[1][::4]
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter('always')
        clf = TimeMAEClassifier(**{**TINY, 'verbose': True}).fit(X, y)
    assert not [str(w.message) for w in said if 'generator is empty' in str(w.message)]
    assert all('_launch_pbar' not in vars(cb) for cb in clf.learn_.cbs)
    assert pickle.loads(pickle.dumps(clf)).predict(X[:2]).shape == (2,)
