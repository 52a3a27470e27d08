"""Mistakes a user can make with the tsai path (issue 17): each one ends in a documented, correct result or in an
error that names the problem and the fix."""
import numpy as np
import pytest
import torch
from tsai.data.core import TSClassification, get_ts_dls
from tsai.data.preprocessing import TSStandardize
from tsai.learner import ts_learner

from tsai_timemae.all import TimeMAE, TimeMAEPretrain
from conftest import SMALL

SPLITS = (list(range(12)), list(range(12, 16)))


def _data(n=16, c=3, T=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c, T)).astype('float32'), np.array(list('abcd') * (n // 4))


def _dls(X, y=None, tfms=None, bs=4):
    if y is None: return get_ts_dls(X, splits=SPLITS, batch_tfms=tfms, bs=bs)
    return get_ts_dls(X, y, splits=SPLITS, tfms=[None, TSClassification()], batch_tfms=tfms, bs=bs)


def _quiet_fit(learn, epochs=1, lr=1e-3):
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr)


# -- item 2: unlabelled data builds no random classifier head ----------------------------------------------------
def test_unlabelled_data_builds_timemae_without_a_classifier_and_predicts_features():
    X, _ = _data()
    learn = ts_learner(_dls(X), TimeMAE, **SMALL)
    assert learn.model.c_out is None
    assert not any(isinstance(m, torch.nn.Linear) for m in learn.model.head.modules())
    with learn.no_bar():
        feats = learn.get_X_preds(X[:5], with_decoded=False)[0]
    assert tuple(feats.shape) == (5, SMALL['d_model'])


def test_c_out_none_through_arch_config_gives_features_even_on_labelled_data():
    X, y = _data()
    learn = ts_learner(_dls(X, y), TimeMAE, arch_config=dict(c_out=None), **SMALL)
    assert learn.model.c_out is None
    assert ts_learner(_dls(X, y), TimeMAE, **SMALL).model.c_out == 4     # labelled: one logit per class, as before


# -- item 3: wrong channel count, stale batch-transform statistics -----------------------------------------------
def test_get_X_preds_with_wrong_channels_names_the_channels():
    X, y = _data()
    learn = ts_learner(_dls(X, y, [TSStandardize(by_var=True)]), TimeMAE, **SMALL)
    with pytest.raises(ValueError, match='built for 3 channels.*X has 2.*same order'):
        learn.get_X_preds(X[:, :2])


def test_get_X_preds_refuses_target_labels_that_are_no_class_of_the_model(tmp_path):
    """tsai encodes an unknown label as the first class: get_X_preds(X, y) returned a test file's 'C' (class 'c') as a
    target 'a', and an accuracy from those targets counted it right when the model said 'a'."""
    X, y = _data()
    learn = ts_learner(_dls(X, y), TimeMAE, **SMALL)
    with learn.no_bar():
        assert len(learn.get_X_preds(X[:4], y[:4])[1]) == 4          # known labels: as tsai gives them
        with pytest.raises(ValueError, match=r"1 of the 4 labels in y are no class of this model \('D'; its classes: "
                                             r"'a', 'b', 'c', 'd'\).*class 'a'.*evaluate_learner"):
            learn.get_X_preds(X[:4], np.array(['a', 'b', 'c', 'D']))
    numbers = ts_learner(_dls(X, np.arange(16) % 4), TimeMAE, **SMALL)   # tsai compares with numpy's ==: '1' is not 1
    with numbers.no_bar():
        assert len(numbers.get_X_preds(X[:4], np.arange(4.))[1]) == 4      # 1.0 is the class 1, as tsai encodes it
        with pytest.raises(ValueError, match='differ from the classes in type'):
            numbers.get_X_preds(X[:4], np.array(['0', '1', '2', '3']))
        with pytest.raises(ValueError, match=r'1 of the 4 labels.*\(7; its classes: 0, 1, 2, 3\)'):
            numbers.get_X_preds(X[:4], np.array([[0], [1], [2], [7]]))    # a column, which tsai flattens
    from tsai.data.core import TSMultiLabelClassification
    from tsai_timemae.all import finelast_learner, save_encoder_weights
    ym = np.array([['a'], ['b', 'c'], ['a', 'c'], ['b']] * 4, dtype=object)  # several labels per series: not checked
    mdls = get_ts_dls(X, ym, splits=SPLITS, tfms=[None, TSMultiLabelClassification()], bs=4)
    save_encoder_weights(ts_learner(mdls, TimeMAE, **SMALL).model, tmp_path / 'enc.pth')
    multi = finelast_learner(mdls, tmp_path / 'enc.pth')
    with multi.no_bar():
        assert multi.get_X_preds(X[:4], ym[:4])[1].shape == (4, 3)
        with pytest.raises(KeyError, match="'e' were not included"):  # tsai's own words, not ours about one class
            multi.get_X_preds(X[:4], np.array([['a'], ['b'], ['c'], ['e']], dtype=object))
    texts = ts_learner(_dls(X, np.array(list('1234') * 4)), TimeMAE, **SMALL)
    with texts.no_bar(), pytest.raises(ValueError, match=r"\('1.0'; its classes: '1', '2', '3', '4'\), and tsai"):
        texts.get_X_preds(X[:4], np.array(['1.0', '2', '3', '4']))   # text against text: no word about types
    pretraining = ts_learner(_dls(X, y), TimeMAE, cbs=TimeMAEPretrain(save_best=False, verbose=False), **SMALL)
    with pretraining.no_bar():                                           # reads no labels: nothing to refuse
        assert len(pretraining.get_X_preds(X[:4], np.array(['a', 'b', 'c', 'E']), with_loss=True)[-1]) == 4


def test_a_standardize_fitted_on_other_channels_is_refused_not_broadcast():
    X, y = _data()
    std = TSStandardize(by_var=True)
    _dls(X[:, :1], y, [std])                                  # fitted on 1-channel data
    with pytest.raises(ValueError, match='statistics for 1 channel.*has 3.*new TSStandardize'):
        ts_learner(_dls(X, y, [std]), TimeMAE, **SMALL)
    ts_learner(_dls(X, y, [TSStandardize(by_var=False)]), TimeMAE, **SMALL)  # one statistic for all: fine


def test_a_standardize_fitted_on_more_channels_is_refused_before_any_batch_runs():
    """Statistics for 3 channels on 2-channel data do not broadcast: tsai's transform raised a bare RuntimeError ("size
    of tensor a (2) must match ... (3)") while the learner was being built, before the check could name the fix."""
    X, y = _data()
    std = TSStandardize(by_var=True)
    _dls(X, y, [std])                                         # fitted on 3-channel data
    with pytest.raises(ValueError, match=r'statistics for 3 channel.*has 2.*would fail.*new TSStandardize'):
        ts_learner(_dls(X[:, :2], y, [std]), TimeMAE, **SMALL)
    with pytest.raises(ValueError, match=r'statistics for 3 channel.*has 2.*new TSStandardize'):   # pretraining too
        ts_learner(_dls(X[:, :2], tfms=[std]), TimeMAE, cbs=TimeMAEPretrain(), **SMALL)


# -- item 5 (tsai path): missing labels are not a class --------------------------------------------------------------
@pytest.mark.parametrize('bad', [np.nan, 'nan'])   # 'nan': what np.array(['a', np.nan]) makes of a NaN
def test_missing_labels_are_refused_on_the_tsai_path(bad):
    X, _ = _data()
    y = np.array([0., 1., 2., 3.] * 4)
    if isinstance(bad, str): y = y.astype(int).astype(str)
    y[5] = bad
    with pytest.raises(ValueError, match='1 of the 12 training labels are missing.*positions \\[5\\].*Drop'):
        ts_learner(_dls(X, y), TimeMAE, **SMALL)


# -- item 6: seq_len reaches the model; series longer than 8,192 steps ---------------------------------------------
def test_seq_len_is_passed_on_and_long_series_fit():
    X, y = _data(n=16, c=1, T=9000)
    learn = ts_learner(_dls(X, y), TimeMAE, window=300, d_model=8, n_layers=1, n_heads=1, d_ff=16)
    assert learn.model.backbone.max_seq_len >= 9000 and learn.model.seq_len == 9000
    assert ts_learner(_dls(X, y), TimeMAE, seq_len=12000, window=300, d_model=8, n_layers=1, n_heads=1,
                      d_ff=16).model.backbone.max_seq_len == 12000
    with learn.no_bar():
        assert learn.get_X_preds(X[:2], with_decoded=False)[0].shape == (2, 4)


def test_too_long_series_error_gives_the_right_fix():
    m = TimeMAE(1, 2, window=8, max_seq_len=64, d_model=8, n_layers=1, n_heads=1, d_ff=16)
    with pytest.raises(ValueError, match='max_seq_len>=100') as e:
        m(torch.randn(1, 1, 100))
    assert 'larger window' not in str(e.value)


# -- item 8: float16 (and integer) input -----------------------------------------------------------------------------
def test_float16_input_trains_on_the_tsai_path():
    X, y = _data()
    learn = ts_learner(_dls(X.astype('float16'), y), TimeMAE, **SMALL)
    _quiet_fit(learn)
    assert np.isfinite(learn.recorder.values[-1][0])


def test_float16_and_integer_tensors_reach_the_model():
    m = TimeMAE(3, 2, **SMALL).eval()
    x = torch.randn(2, 3, 40)
    assert torch.allclose(m(x.half()), m(x.half().float()), atol=1e-5)
    assert m((x * 10).long()).shape == (2, 2)


# -- item 11: TimeMAE by name, as tsai allows for its own architectures ----------------------------------------------
def test_tsai_finds_timemae_by_name(tmp_path):
    from tsai.all import TSClassifier, get_arch
    assert get_arch('TimeMAE') is TimeMAE
    X, y = _data()
    clf = TSClassifier(X, y, splits=SPLITS, tfms=[None, TSClassification()], arch='TimeMAE', arch_config=SMALL, bs=4,
                       path=tmp_path)
    assert isinstance(clf.model, TimeMAE) and clf.model.c_out == 4
    assert get_arch('InceptionTimePlus').__name__ == 'InceptionTimePlus'   # tsai's own names still work


# -- items 4 and 7: fastai checkpoints load; bad weights files say what is wrong with them -------------------------
def test_fastai_checkpoints_with_optimizer_state_are_accepted(tmp_path):
    from fastai.callback.tracker import SaveModelCallback
    from tsai_timemae.all import fineall_learner, read_encoder_weights
    X, y = _data()
    learn = ts_learner(_dls(X, y), TimeMAE, path=tmp_path, **SMALL)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, 1e-3, cbs=SaveModelCallback(with_opt=True, fname='ckpt'))
    path = tmp_path / 'models' / 'ckpt.pth'
    enc = read_encoder_weights(path)
    assert set(enc) == {k for k in learn.model.state_dict() if k.startswith('backbone.')}
    assert isinstance(fineall_learner(_dls(X, y), path, n_heads=SMALL['n_heads']).model, TimeMAE)
    learn.save('manual', with_opt=True)
    assert read_encoder_weights(tmp_path / 'models' / 'manual.pth').keys() == enc.keys()


def _write_bad(kind, tmp_path):
    from tsai_timemae.all import save_encoder_weights
    good = save_encoder_weights(TimeMAE(3, None, **SMALL), tmp_path / 'good.pth')
    p = tmp_path / f'{kind}.pth'
    if kind == 'truncated': p.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])
    elif kind == 'text': p.write_text('these are not weights\n' * 10)
    elif kind == 'empty': p.write_bytes(b'')
    elif kind == 'lfs': p.write_text('version https://git-lfs.github.com/spec/v1\noid sha256:' + '0' * 64 + '\nsize 123456\n')
    elif kind == 'other_model':
        from tsai.models.TSTPlus import TSTPlus
        torch.save(TSTPlus(3, 2, 40, d_model=16, n_heads=2, d_ff=32, n_layers=1).state_dict(), p)
    return p


@pytest.mark.parametrize('kind, message', [
    ('truncated', 'truncated, corrupt or not a torch state_dict.*Re-run pretraining'),
    ('text', 'truncated, corrupt or not a torch state_dict.*Re-run pretraining'),
    ('empty', 'truncated, corrupt or not a torch state_dict.*Re-run pretraining'),
    ('lfs', 'Git LFS pointer.*git lfs pull'),
    ('other_model', 'weights of another model, not a TimeMAE encoder.*TimeMAEPretrain'),
])
def test_bad_weights_files_name_the_problem_and_never_suggest_unsafe_loading(tmp_path, kind, message):
    from tsai_timemae.all import finelast_learner, read_encoder_weights
    p = _write_bad(kind, tmp_path)
    with pytest.raises(ValueError, match=message) as e:
        read_encoder_weights(p)
    assert 'weights_only' not in str(e.value) and 'n_layers=0' not in str(e.value)
    X, y = _data()
    with pytest.raises(ValueError, match=message):
        finelast_learner(_dls(X, y), p)


# -- sktime estimators: missing labels (item 5), series longer than 8,192 steps (item 6) ---------------------------
TINY_SK = dict(window=4, d_model=8, n_layers=1, n_heads=1, d_ff=16, vocab_size=8, n_decoder_layers=1,
               pretrain_epochs=1, batch_size=4, random_state=0)


@pytest.mark.parametrize('labels', ['numbers', 'text', 'pandas Int64', 'pandas string'])
def test_classifier_refuses_missing_labels(labels):
    "pandas' nullable dtypes hold pd.NA: it slipped past the check (Int64: a full pretraining first, then a tsai hint)."
    import pandas as pd
    from tsai_timemae.sktime import TimeMAEClassifier
    X, y = _data()
    y = np.arange(16.) % 4 if labels in ('numbers', 'pandas Int64') else y.astype(object)
    y[[3, 7]] = np.nan
    if labels.startswith('pandas'): y = pd.Series(y, dtype=labels.split()[1])
    with pytest.raises(ValueError, match='2 of the 16 labels in y are missing.*positions \\[3, 7\\].*X_unlabelled'):
        TimeMAEClassifier(**TINY_SK, finetune_epochs=1).fit(X, y)


def test_sktime_estimators_take_series_longer_than_8192_steps():
    from tsai_timemae.sktime import TimeMAEClassifier, TimeMAETransformer
    X, y = _data(n=8, c=1, T=8200)
    arch = dict(TINY_SK, window=205)
    clf = TimeMAEClassifier(**arch, finetune_epochs=1).fit(X, y[:8])
    assert clf.predict(X[:2]).shape == (2,)
    # max_seq_len: longer series at transform time than at fit time
    tr = TimeMAETransformer(**{**arch, 'pretrain_epochs': 0}, max_seq_len=12000).fit(X[..., :1000])
    assert tr.transform(X).shape == (8, 8)
    with pytest.raises(ValueError, match=r'Series of 12300 steps are longer than the 12000.*TimeMAETransformer\(max_seq_len=12300'):
        tr.transform(np.concatenate([X, X[..., :4100]], -1))


# -- items 9 and 10: `timemae` commands --------------------------------------------------------------------------------
def test_timemae_help_imports_no_sub_command():
    import subprocess, sys
    code = ('import sys; from tsai_timemae.cli import main\n'
            'try: main(["--help"])\nexcept SystemExit: pass\n'
            'print(sorted(m for m in ("tsai", "torch", "fastai") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert 'bench' in out.stdout and 'demo' in out.stdout and out.stdout.strip().endswith('[]'), out.stdout


def test_a_commands_help_prints_no_warning_a_user_cannot_act_on():
    "tsai's import-time `torch.jit.script` FutureWarning was the first thing every `timemae demo --help` printed."
    import subprocess, sys
    code = 'from tsai_timemae.cli import main\ntry: main(["demo", "--help"])\nexcept SystemExit: pass\n'
    out = subprocess.run([sys.executable, '-W', 'default', '-c', code], capture_output=True, text=True, timeout=300)
    assert 'usage: timemae demo' in out.stdout and 'jit' not in out.stderr, out.stderr


def test_bench_finds_sktimes_bundled_data_sets_without_timemae_data(tmp_path, monkeypatch):
    from tsai_timemae.data import find_dataset, load_dataset
    monkeypatch.setenv('TIMEMAE_DATA', str(tmp_path))
    path, fmt = find_dataset('BasicMotions')
    assert fmt == 'ts' and path.name == 'BasicMotions' and 'sktime' in str(path)
    ds = load_dataset('BasicMotions')
    assert (ds.c_in, ds.seq_len, len(ds.X_test)) == (6, 100, 40)
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'BasicMotions').write_text('a file that happens to have the name')  # a bare name still finds the data set
    assert find_dataset('BasicMotions') == (path, 'ts')


def _copy_a_committed_result(out_dir):
    "One committed `timemae bench` result file, copied under `out_dir/results` (a report needs at least one)."
    import shutil
    from pathlib import Path
    src = sorted((Path(__file__).resolve().parent.parent / 'benchmarks' / 'results').glob('*/*_seed0.json'))[0]
    (out_dir / 'results' / src.parent.name).mkdir(parents=True, exist_ok=True)
    shutil.copy(src, out_dir / 'results' / src.parent.name / src.name)


def test_bench_errors_are_one_line_and_a_foreign_report_is_not_overwritten(tmp_path, monkeypatch, capsys):
    from tsai_timemae.cli import main
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('TIMEMAE_DATA', str(tmp_path / 'no_data_here'))
    assert main(['bench', 'NoSuchDataSet', '--report', 'B.md', '--no-bar']) == 2
    err = capsys.readouterr().err
    assert "timemae bench: error: Data set 'NoSuchDataSet' not found" in err and 'root' in err
    foreign = tmp_path / 'BENCHMARKS.md'
    foreign.write_text('# My own benchmarks\n')
    assert main(['bench', '--report-only']) == 2
    err = capsys.readouterr().err
    assert 'not written by `timemae bench`' in err and '--report' in err
    assert foreign.read_text() == '# My own benchmarks\n'
    assert main(['bench', '--report-only', '--report', 'ours.md']) == 2        # no ./benchmarks: nothing to report
    assert '--out-dir benchmarks does not exist' in capsys.readouterr().err and not (tmp_path / 'ours.md').exists()
    (tmp_path / 'benchmarks').mkdir()
    assert main(['bench', '--report-only', '--report', 'ours.md']) == 2        # a folder of no results: nothing either
    assert '--out-dir benchmarks holds no result files' in capsys.readouterr().err and not (tmp_path / 'ours.md').exists()
    _copy_a_committed_result(tmp_path / 'benchmarks')
    assert main(['bench', '--report-only', '--report', 'ours.md']) is None and (tmp_path / 'ours.md').is_file()
    assert main(['bench', '--report-only', '--report', 'ours.md']) is None    # its own report: regenerated
    assert main(['probe', '--report-only', '--out-dir', 'no_such_probe']) == 2
    assert '--out-dir no_such_probe does not exist' in capsys.readouterr().err and not (tmp_path / 'no_such_probe').exists()


@pytest.mark.parametrize('argv, option', [
    (['bench', 'BasicMotions', '--threads', '0'], '--threads'),
    (['bench', 'BasicMotions', '--pretrain-epochs', '0'], '--pretrain-epochs'),
    (['bench', 'BasicMotions', '--pretrain-lr', '-0.001'], '--pretrain-lr'),
    (['demo', '--pretrain-epochs', '0'], '--pretrain-epochs'),
    (['demo', '--bs', 'many'], '--bs'),
    (['demo', '--threads', '0'], '--threads'),
    (['probe', 'BasicMotions', '--epochs', '0'], '--epochs'),
    (['probe', 'BasicMotions', '--folds', '1'], '--folds'),   # once sklearn's error from inside the run, naming no option
    (['speed', '--threads', '-1'], '--threads'),
    # beyond torch's C integers: a traceback deep in the fit (after the untrained encoder was written), or numpy's
    # "Overflow when unpacking long long" naming no option
    (['demo', '--pretrain-epochs', str(10**20)], '--pretrain-epochs'),
    (['demo', '--threads', str(10**20)], '--threads'),
    (['demo', '--seed', str(2**32)], '--seed'),
    (['bench', 'BasicMotions', '--seeds', '0', str(10**20)], '--seeds'),
])
def test_counts_and_rates_below_one_are_refused_before_any_work(argv, option, capsys):
    "Epochs, batch sizes, threads of 0 or less once ran silently (0 epochs: an untrained encoder reported as pretrained)."
    from tsai_timemae.cli import main
    with pytest.raises(SystemExit) as e: main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert option in err and any(w in err for w in ('at least 1', 'above 0', 'at least 2', 'at most 2147483647',
                                                     'at most 4294967295')), err


def test_options_before_the_command_name_the_order_and_the_traceback_switch_reads_0_as_off(tmp_path, monkeypatch, capsys):
    """`timemae --threads 1 demo` read '1' as the command, and `timemae --no-bar demo` answered "did you mean --no-bar?";
    TIMEMAE_TRACEBACK=0 showed the traceback."""
    from tsai_timemae.cli import main
    monkeypatch.chdir(tmp_path)
    for argv, fixed in ((['--threads', '1', 'demo'], '`timemae demo --threads 1`'), (['--no-bar', 'demo'], '`timemae demo --no-bar`'),
                        (['--out-dir', 'x', 'bench', 'HAR'], '`timemae bench --out-dir x HAR`'),
                        (['--out-dir', 'probe', 'bench', 'HAR'], '`timemae bench --out-dir probe HAR`')):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert 'options go after the command name' in err and fixed in err, err
    monkeypatch.setenv('TIMEMAE_TRACEBACK', '0')
    assert main(['bench', 'NoSuchDataSet', '--out-dir', 'bz']) == 2
    assert 'not found' in capsys.readouterr().err and list(tmp_path.iterdir()) == []
    monkeypatch.setenv('TIMEMAE_TRACEBACK', '1')
    with pytest.raises(FileNotFoundError): main(['bench', 'NoSuchDataSet', '--out-dir', 'bz'])


@pytest.mark.parametrize('command, report', [('bench', 'BENCHMARKS.md'), ('probe', 'benchmarks/probe/PROBE.md')])
def test_a_bare_bench_or_probe_says_what_to_name_and_writes_nothing(command, report, tmp_path, monkeypatch, capsys):
    "`timemae bench` with no data set once wrote ./BENCHMARKS.md (and `probe` ./benchmarks/probe/PROBE.md) and exited 0."
    from tsai_timemae.cli import main
    monkeypatch.chdir(tmp_path)
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert 'name the data sets' in err and '--report-only' in err and report in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('setting, message', [('mask_ratio=60%', 'mask_ratio must be a number'),
                                              ('vocab_size=abc', 'vocab_size must be a whole number'),
                                              ('normalize_targets=maybe', 'normalize_targets is a switch, True or False'),
                                              ('decoupled=0', 'decoupled is a switch, True or False'),
                                              ('tokenizer_kwargs=3', "tokenizer_kwargs must be a dict of the 'kmeans'"),
                                              ('alpha=nan', "got 'nan' (str). Pass a finite number.")])
def test_a_setting_of_the_wrong_type_on_the_command_line_is_a_one_line_error(setting, message, tmp_path, monkeypatch, capsys):
    "`--set mask_ratio=60%` once ended in a traceback and status 1, where `--set mask_ratio=1.5` gave one line and 2."
    from tsai_timemae.cli import main
    from tsai_timemae.layers import SettingTypeError
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv('TIMEMAE_TRACEBACK', raising=False)
    assert main(['probe', 'BasicMotions', '--epochs', '1', '--set', setting, '--out-dir', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith('timemae probe: error: ') and message in err and 'Traceback' not in err, err
    assert issubclass(SettingTypeError, TypeError)  # still the TypeError Python code catches for such arguments


def test_a_report_path_that_is_a_folder_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    from tsai_timemae.cli import main
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'R.md').mkdir()
    assert main(['bench', '--report-only', '--out-dir', str(tmp_path), '--report', 'R.md']) == 2
    assert 'timemae bench: error:' in capsys.readouterr().err
    # and before any run, not after all of them: nothing is trained, nothing written
    assert main(['bench', 'BasicMotions', '--quick', '--methods', 'timemae_linear_untrained', '--seeds', '0',
                 '--out-dir', 'out', '--report', 'R.md']) == 2
    assert 'R.md is a folder, not a file name' in capsys.readouterr().err and not (tmp_path / 'out').exists()


def test_true_and_false_in_any_case_are_switches_on_the_command_line():
    "`--set decoupled=false` was the string 'false', which counts as true: the run kept the decoupled encoder."
    from tsai_timemae.probe import check_setting_names, format_key_value, key_value, parse_value
    assert [parse_value(v) for v in ('false', 'FALSE', 'True', 'none', 'None')] == [False, False, True, None, None]
    assert key_value('decoupled=false') == ('decoupled', False)
    check_setting_names({'decoupled': False}, {'pre_norm': True})
    import shlex
    assert key_value(shlex.split(format_key_value('tokenizer', 'false'))[0])[1] == 'false'  # the string reads back as one


def test_a_probe_tag_that_starts_with_a_dash_or_is_blank_and_a_setting_given_twice_are_refused(tmp_path, monkeypatch, capsys):
    "PROBE.md's command to regenerate it would pass `--tag -x`, which argparse reads as an option."
    from tsai_timemae.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(['probe', 'BasicMotions', '--tag=-x', '--untrained-only', '--out-dir', 'out']) == 2
    assert 'A tag must not start with "-"' in capsys.readouterr().err
    # a blank tag made a folder named ' '; a setting given twice kept its last value without a word
    assert main(['probe', 'BasicMotions', '--tag', ' ', '--untrained-only', '--out-dir', 'out']) == 2
    assert "A tag must be a plain file name, without spaces at either end, got ' '" in capsys.readouterr().err
    for option, key in (('--set', 'mask_ratio'), ('--arch', 'n_layers')):
        assert main(['probe', 'BasicMotions', option, f'{key}=1', option, f'{key}=2', '--epochs', '1', '--out-dir', 'out']) == 2
        assert f'{option} {key}= is given twice, 1 and 2: one run takes one value' in capsys.readouterr().err
    assert main(['probe', 'BasicMotions', '--set', 'normalize_targets=true', '--set', 'normalize_targets=1', '--epochs', '1', '--out-dir', 'out']) == 2
    assert '--set normalize_targets= is given twice, True and 1' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


def test_sigterm_and_sighup_end_a_command_as_ctrl_c_does():
    "`timeout` or a scheduler's SIGTERM killed a bench at once, leaving a partly trained encoder under its cache name."
    import os
    import signal
    import time
    from tsai_timemae.cli import stops_as_interrupts
    sigs = (signal.SIGTERM, signal.SIGHUP)
    outside = {sig: signal.signal(sig, signal.SIG_DFL) for sig in sigs}      # as a shell starts it (this run may be under nohup)
    try:
        for sig in sigs:
            with pytest.raises(KeyboardInterrupt, match=signal.Signals(sig).name):
                with stops_as_interrupts(): os.kill(os.getpid(), sig); time.sleep(1)
            assert signal.getsignal(sig) is signal.SIG_DFL                     # the handler is put back
        signal.signal(signal.SIGHUP, signal.SIG_IGN)                           # as `nohup timemae ...` starts it
        with stops_as_interrupts(): assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN   # left as it was
    finally:
        for sig, handler in outside.items(): signal.signal(sig, handler)


def test_only_tsai_data_without_labels_counts_as_unlabelled():
    from types import SimpleNamespace
    from tsai_timemae.model import has_labels
    X, y = _data()
    assert not has_labels(_dls(X)) and has_labels(_dls(X, y))
    assert has_labels(SimpleNamespace(train_ds=torch.utils.data.TensorDataset(torch.zeros(2, 3, 8), torch.zeros(2))))


def test_readme_says_in_one_place_what_happens_with_bad_input():
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / 'README.md').read_text()
    section = readme.split('## What happens with bad input', 1)[1].split('\n## ', 1)[0]
    for topic in ('NaN or inf values', 'Missing labels', 'Unequal lengths', 'Very long series', 'wrong channel count'):
        assert topic in section, topic
    assert readme.count('## What happens with bad input') == 1 and '**Bad input** gets an error' not in readme


# -- an array stored as [samples, steps, channels] -----------------------------------------------------------------
def test_channels_last_array_warns_and_names_the_transpose():
    "Read as [samples, channels, steps], a transposed array would train without an error on patches cut across channels."
    X, y = _data(c=40, T=3)                                  # 40 'channels' of 3 steps: a [N, T, C] array read as [N, C, T]
    with pytest.warns(UserWarning, match=r'more channels \(40\) than time steps \(3\).*transpose.*X.transpose\(0, 2, 1\)') as w:
        ts_learner(_dls(X, y), TimeMAE, **{**SMALL, 'window': 3})
    assert {x.filename for x in w if 'more channels' in str(x.message)} == {__file__}  # not tsai's models/utils.py


def test_series_with_more_steps_than_channels_do_not_warn():
    import warnings
    X, y = _data(c=3, T=40)
    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)
        warnings.filterwarnings('ignore', message='.*jit.*')
        TimeMAE(3, 4, seq_len=40, **SMALL)
        TimeMAE(40, 4, **SMALL)                              # without a length nothing can be told


def test_the_packages_warnings_reach_a_tsai_user():
    """Importing tsai runs `warnings.filterwarnings('ignore', category=UserWarning)`, which silenced every warning of
    this package (the collapse monitor, a transposed array, a checkpoint's assumed n_heads). They get through it now;
    a filter the user sets for TimeMAEWarning still decides."""
    import warnings
    from tsai_timemae.notices import TimeMAEWarning
    with warnings.catch_warnings(record=True) as seen:
        warnings.filterwarnings('ignore', category=UserWarning)          # what `import tsai.data.core` does
        TimeMAE(40, 4, seq_len=3, window=3)
        warnings.filterwarnings('ignore')                                # what `from tsai.all import *` does
        TimeMAE(40, 4, seq_len=3, window=3)
        warnings.filterwarnings('ignore', category=TimeMAEWarning)       # the user's own choice
        TimeMAE(40, 4, seq_len=3, window=3)
    assert [w.category for w in seen] == [TimeMAEWarning] * 2 and 'more channels (40)' in str(seen[0].message)


def test_the_packages_warnings_survive_from_tsai_all_import_star():
    """`from tsai.all import *` (the README's first line) imports `tsai.optuna`, which runs
    `warnings.filterwarnings('ignore')`: every warning of every kind silenced, this package's too. Ours still reach the
    user; `python -W ignore`, the user's own choice when starting Python, still silences them."""
    import subprocess, sys
    code = ('from tsai.all import *\nfrom tsai_timemae.all import *\nimport warnings\n'
            "assert ('ignore', None, Warning, None, 0) in warnings.filters\n"   # tsai's catch-all is in force
            'TimeMAE(40, 4, seq_len=3, window=3)\n')
    shown = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert 'TimeMAEWarning' in shown.stderr and 'more channels (40)' in shown.stderr
    silenced = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], capture_output=True, text=True, timeout=300)
    assert silenced.returncode == 0 and 'more channels' not in silenced.stderr, silenced.stderr[-2000:]


def test_tsais_model_builders_know_timemae_after_both_star_imports_in_the_readmes_order():
    """`from tsai.all import *` first binds tsai's own `build_ts_model`, `create_model`, `build_model` and `get_arch` in
    the user's namespace; `from tsai_timemae.all import *` must rebind them to the versions that know TimeMAE, or
    `create_model(TimeMAE, dls=...)` on unlabelled data gives a 1-output regression instead of features."""
    import subprocess, sys
    code = ('from tsai.all import *\nfrom tsai_timemae.all import *\nimport numpy as np, torch\n'
            "X = np.random.randn(20, 3, 40).astype('float32')\n"
            'dls = get_ts_dls(X, splits=(list(range(15)), list(range(15, 20))))\n'
            'assert get_arch("TimeMAE") is TimeMAE\n'
            'for build in (create_model, build_ts_model, build_model):\n'
            '    m = build(TimeMAE, dls=dls)\n'
            '    assert m.c_out is None and m.backbone.window == auto_window(40), (build, m.c_out, m.backbone.window)\n'
            '    assert m(torch.randn(2, 3, 40)).shape == (2, 64)\n')
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_evaluate_learner_leaves_the_random_streams_and_the_models_mode_alone(dls, basic_motions):
    "Like get_embeddings and the sktime estimators' predict: a score between two seeded steps changes neither."
    import random
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, evaluate_learner
    from conftest import SMALL
    learn = ts_learner(dls, TimeMAE, **SMALL)
    learn.model.train()
    states = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    evaluate_learner(learn, basic_motions[2][:8], basic_motions[3][:8])
    assert learn.model.training
    assert random.getstate() == states[0] and np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])


def test_evaluate_learner_scores_in_this_process_after_a_distributed_launch(dls, basic_motions, monkeypatch):
    """A distributed launch leaves WORLD_SIZE set and fastai's get_preds then gathers every process's copy of the
    predictions (each series once per process, or a failure without a process group); evaluate_learner predicts in the
    process it runs in, with the same labels as tsai's get_X_preds gives on one process."""
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, evaluate_learner, label_vocab, predict_labels
    from conftest import SMALL
    X, y = basic_motions[2][:12], basic_motions[3][:12]
    learn = ts_learner(dls, TimeMAE, **SMALL)
    with learn.no_bar(): probs = learn.get_X_preds(X, with_decoded=False)[0]
    assert list(predict_labels(learn, X)) == list(np.asarray(label_vocab(learn))[np.asarray(probs).argmax(1)])
    alone = evaluate_learner(learn, X, y)
    monkeypatch.setenv('WORLD_SIZE', '2')
    assert evaluate_learner(learn, X, y) == alone


def test_labels_compare_as_numbers_when_one_side_is_numbers():
    "1.0 against the class '1' (text) scored wrong, and so did the text '1.0' against the class 1.0."
    from tsai_timemae.evaluate import comparable_labels
    for y, pred in ((np.array([1., 2.]), np.array(['1', '2'])), (np.array(['1.0', '2.0']), np.array([1., 2.])),
                    (np.array([1, 2], dtype=object), np.array([1, 2]))):
        a, b = comparable_labels(y, pred)
        assert (a == b).all(), (y, pred)
    a, b = comparable_labels(np.array(['a', '10']), np.array(['a', '1']))  # text: compared whole, never truncated
    assert list(a == b) == [True, False]


def test_a_command_line_mistake_is_one_line_without_argparses_usage_block(capsys):
    from tsai_timemae.cli import main
    with pytest.raises(SystemExit) as e: main(['bench', '--seeds', '0', '1', 'HAR'])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and 'usage:' not in err
    assert "name the data sets before the options: `timemae bench HAR --seeds ...`" in err and '--help' in err


def test_an_option_the_command_does_not_know_points_to_that_commands_help_and_the_closest_option(capsys):
    "argparse reports a sub-command's unknown option from the top parser: the message names the sub-command's help."
    from tsai_timemae.cli import main
    with pytest.raises(SystemExit) as e: main(['bench', 'HAR', '--label-fractions', '0.2'])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1
    assert 'unrecognized arguments: --label-fractions 0.2 (did you mean --label-fraction?)' in err
    assert '(`timemae bench --help` lists its options)' in err
    with pytest.raises(SystemExit): main(['probe', 'HAR', '--label-fraction', '0.2'])  # a bench option: no near miss
    err = capsys.readouterr().err
    assert 'did you mean' not in err and '`timemae probe --help`' in err
    assert "the label fractions are timemae bench's" in err and 'is a data set' not in err  # '0.2' was offered as one
    # an option of the other command names what this one takes; its value is not taken for a data set
    for argv, said in ((['bench', 'HAR', '--epochs', '20'], 'bench takes --pretrain-epochs and --finetune-epochs'),
                       (['probe', 'GunPoint', '--pretrain-epochs', '1'], 'probe takes --epochs (or --steps)'),
                       (['probe', 'HAR', '--quick'], 'use --epochs 1 for a quick run'),
                       (['probe', 'HAR', '--pretrain-lr', '1e-3'], 'probe takes --lr'),   # not "did you mean --pretrain-fraction"
                       (['demo', '--epochs', '2'], 'demo takes --pretrain-epochs and --finetune-epochs')):
        with pytest.raises(SystemExit): main(argv)
        err = capsys.readouterr().err
        assert said in err and 'is a data set' not in err and 'did you mean' not in err, err
    with pytest.raises(SystemExit): main(['bench', 'BasicMotions', '--quick', 'GunPoint'])  # a data set after the options
    assert "If 'GunPoint' is a data set, name all the data sets together" in capsys.readouterr().err
    with pytest.raises(SystemExit): main(['bench', 'HAR', '--label-frac', '0.2', '--bogus'])  # an abbreviation argparse takes
    err = capsys.readouterr().err
    assert 'unrecognized arguments: --bogus (`timemae bench --help`' in err and 'did you mean' not in err


def test_speed_names_a_missing_or_damaged_run_and_an_out_that_is_a_file(tmp_path, capsys):
    "`timemae speed --report-only` gave a bare '[Errno 2]' or a KeyError traceback; `--out afile` an '[Errno 17]'."
    from tsai_timemae.cli import main
    assert main(['speed', '--report-only', '--out', str(tmp_path / 'none')]) == 2
    err = capsys.readouterr().err
    assert 'results.json does not exist' in err and f'timemae speed --out {tmp_path / "none"}' in err, err
    for damaged in ('{}', '{"har": '):
        (tmp_path / 'results.json').write_text(damaged)
        assert main(['speed', '--report-only', '--out', str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert 'cannot be read as the results of `timemae speed`' in err and 'Traceback' not in err, err
    (tmp_path / 'afile').write_text('not a folder')
    assert main(['speed', '--out', str(tmp_path / 'afile'), '--threads', '1']) == 2   # refused before any measurement
    err = capsys.readouterr().err
    assert '--out' in err and 'afile' in err, err


@pytest.mark.parametrize('argv, named', [
    (['probe', 'BasicMotions', '--untrained-only', '--set', 'mask_ratio=0.5', '--lr', '0.01'], '--set, --lr would be ignored'),
    (['probe', 'BasicMotions', '--untrained-only', '--epochs', '3'], '--epochs would be ignored'),
    (['probe', '--report-only', '--seeds', '7', '--force'], '--seeds, --force would be ignored'),
    (['bench', '--report-only', '--quick', '--tokenizer', 'codebook'], '--tokenizer, --quick would be ignored'),
    (['bench', 'BasicMotions', '--methods', 'timemae_linear_untrained', '--tokenizer', 'codebook', '--pretrain-lr', '0.5'],
     '--tokenizer, --pretrain-lr would be ignored'),
    (['bench', 'BasicMotions', '--methods', 'inceptiontimeplus', 'tstplus_scratch', '--pretrain-epochs', '3'],
     '--pretrain-epochs would be ignored'),
    (['bench', 'BasicMotions', '--methods', 'mvp_tstplus', '--window', '4'], '--window would be ignored'),
    (['bench', 'BasicMotions', '--methods', 'timemae_linear', 'timemae_linear_untrained', '--finetune-epochs', '5'],
     '--finetune-epochs would be ignored')])
def test_options_a_mode_does_not_use_are_refused_not_dropped(argv, named, tmp_path, monkeypatch, capsys):
    """`--untrained-only` pretrains nothing, `--report-only` runs nothing, and `--methods` without a method that reads an
    option (the tokenizer of a run that pretrains nothing): options no run reads were dropped silently."""
    from tsai_timemae.cli import main
    monkeypatch.chdir(tmp_path)
    assert main([*argv, '--out-dir', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert named in err and ('drop them' in err or 'drop it' in err), err
    assert list(tmp_path.iterdir()) == []


def test_a_data_set_after_the_options_and_a_window_longer_than_every_length_are_named(tmp_path, monkeypatch, capsys):
    """`bench BasicMotions --quick GunPoint` said only "unrecognized arguments: GunPoint"; `speed --lengths 4 --windows 8`
    measured HAR for a minute, then wrote a crash as a multi-line table cell."""
    from tsai_timemae.cli import main
    with pytest.raises(SystemExit) as e: main(['bench', 'BasicMotions', '--quick', 'GunPoint'])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "If 'GunPoint' is a data set, name all the data sets together, before the options" in err
    monkeypatch.chdir(tmp_path)
    assert main(['speed', '--out', 'out', '--lengths', '4', '64', '--windows', '8', '--attn0-windows']) == 2
    err = capsys.readouterr().err
    assert '--windows/--attn0-windows [8] are longer than the shortest of --lengths (4)' in err and not (tmp_path / 'out').exists()


def test_a_foreign_json_file_among_the_probe_runs_is_named(tmp_path, capsys):
    "Valid JSON that is not a run record ended `probe --report-only` in a raw KeyError: 'dataset'."
    from tsai_timemae.cli import main
    (tmp_path / 'D' / 't').mkdir(parents=True)
    (tmp_path / 'D' / 't' / 'seed0.json').write_text('{"a": 1}')
    assert main(['probe', '--report-only', '--out-dir', str(tmp_path)]) == 2
    assert 'seed0.json is not a `timemae probe` run (no dataset, tag, seed, untrained_score)' in capsys.readouterr().err


def test_version_an_empty_out_dir_and_a_root_that_is_a_file(tmp_path, monkeypatch, capsys):
    """`timemae --version` names the package's version (what a bug report needs); an empty `--out-dir` is refused, not
    read as the current folder; a `--root` that is a file is called a file, not missing."""
    import tsai_timemae
    from tsai_timemae.cli import main
    with pytest.raises(SystemExit) as e: main(['--version'])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f'timemae (tsai-timemae) {tsai_timemae.__version__}'
    monkeypatch.chdir(tmp_path)
    assert main(['demo', '--out-dir', '']) == 2
    assert "--out-dir is empty ('')" in capsys.readouterr().err and not list(tmp_path.glob('demo_results*'))
    for argv in (['bench', '--report-only', '--out-dir', ''], ['probe', '--report-only', '--out-dir', ' '],
                 ['bench', '--report-only', '--report', ''], ['probe', 'BasicMotions', '--root', '']):
        assert main(argv) == 2 and 'is empty' in capsys.readouterr().err, argv  # not the current folder
    assert not list(tmp_path.glob('*.md'))
    (tmp_path / 'afile').write_text('x')
    assert main(['probe', 'BasicMotions', '--root', str(tmp_path / 'afile'), '--out-dir', str(tmp_path / 'o')]) == 2
    assert 'is a file, not a folder' in capsys.readouterr().err


def test_a_refused_command_leaves_no_empty_output_folder(tmp_path, monkeypatch, capsys):
    """A command refused for a bad value had already created its output folders (`--out-dir a/b`, the demo's
    `models/`): the user found empty folders from a run that never ran. Folders that held anything stay."""
    from tsai_timemae.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(['probe', 'NoSuchSet', '--out-dir', 'a/b']) == 2
    assert main(['demo', '--out-dir', '']) == 2
    assert main(['bench', 'BasicMotions', '--methods', 'mvp_tstplus', '--window', '4', '--out-dir', 'c']) == 2
    assert list(tmp_path.iterdir()) == []
    (tmp_path / 'kept').mkdir()
    assert main(['probe', 'NoSuchSet', '--out-dir', 'kept/new']) == 2
    assert [p.name for p in tmp_path.iterdir()] == ['kept'] and not list((tmp_path / 'kept').iterdir())
    (tmp_path / 'afile').write_text('x')  # refused after the output folder was made: `new/../kept` is the user's `kept`
    assert main(['probe', 'BasicMotions', '--root', 'afile', '--out-dir', 'new/../kept']) == 2
    assert (tmp_path / 'kept').is_dir() and not (tmp_path / 'new').exists()



def test_an_interrupted_command_leaves_no_empty_output_folder(tmp_path, monkeypatch, capsys):
    "Ctrl-C before a command wrote anything left the output folders it had made, empty (bench cleaned its own; the others did not)."
    import tsai_timemae.probe as probe
    from tsai_timemae.cli import main
    monkeypatch.chdir(tmp_path)
    def interrupted(datasets, seeds, out_dir, **k):
        (tmp_path / out_dir).mkdir(parents=True, exist_ok=True)                # made, then stopped before any file
        raise KeyboardInterrupt
    monkeypatch.setattr(probe, 'run_probes', interrupted)
    assert main(['probe', 'BasicMotions', '--out-dir', 'p/q']) == 130
    assert 'interrupted' in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_an_interrupted_bench_with_overwrite_says_to_go_on_without_it(tmp_path, monkeypatch, capsys):
    "The same command with --overwrite redoes every finished run again; it said the same command goes on from there."
    import tsai_timemae.bench as bench
    from tsai_timemae.cli import main
    monkeypatch.chdir(tmp_path)
    def interrupted(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(bench, 'run_benchmark', interrupted)
    assert main(['bench', 'BasicMotions', '--overwrite']) == 130
    err = capsys.readouterr().err
    assert 'The same command without --overwrite goes on from there, but keeps the earlier results of runs' in err
    assert 'give --overwrite again with only the seeds and data sets it had not reached' in err
    assert main(['bench', 'BasicMotions']) == 130
    err = capsys.readouterr().err
    assert 'the same command goes on from there' in err and '--overwrite' not in err


def test_bench_and_probe_refuse_what_they_would_ignore_or_mislabel(tmp_path, monkeypatch, capsys):
    """--root beside data sets given only as paths went unused yet into the report's commands; --quick with both epoch
    options gave full-length runs marked (quick); --every at or above the epochs probed nothing in between;
    --report-only on a folder without runs (the other command's) wrote an empty report and exited 0; an interrupted
    bench did not say how to get the report of the runs it kept."""
    import tsai_timemae.bench as bench
    import tsai_timemae.probe as probe
    from tsai_timemae.cli import main
    monkeypatch.chdir(tmp_path)
    real_run = bench.run_benchmark
    def must_not_run(*a, **k): raise AssertionError('ran')
    monkeypatch.setattr(bench, 'run_benchmark', must_not_run)
    for command in (['bench', 'data/mine.npz', '--root', 'typo'], ['probe', 'data/mine.npz', '--root', 'typo']):
        assert main(command) == 2, command
        assert '--root is the folder data set names are looked up in' in capsys.readouterr().err
    monkeypatch.setattr(bench, 'run_benchmark', real_run)          # it refuses before anything runs
    assert main(['bench', 'BasicMotions', '--quick', '--pretrain-epochs', '5', '--finetune-epochs', '5']) == 2
    assert 'runs of the epochs given, marked (quick)' in capsys.readouterr().err
    assert main(['probe', 'BasicMotions', '--epochs', '2', '--every', '2', '--out-dir', 'p']) == 2
    assert 'every=2 probes no epoch between the start and the end of 2 epochs' in capsys.readouterr().err
    assert main(['probe', 'BasicMotions', '--epochs', '1', '--every', '1', '--out-dir', 'p']) == 2  # "a number below 1"
    assert 'of 1 epoch (both are probed anyway): one epoch has none between them: leave --every out' in capsys.readouterr().err
    for w in ('0', '-2'):  # a ZeroDivisionError traceback, and "a window of -2 makes 1 patch"
        assert main(['probe', 'BasicMotions', '--epochs', '1', '--arch', f'window={w}', '--out-dir', 'p']) == 2
        assert f'--arch window must be a whole number of at least 1 (steps per patch), got {w}' in capsys.readouterr().err
    (tmp_path / 'benchmarks').mkdir()
    assert main(['probe', '--report-only', '--out-dir', 'benchmarks']) == 2
    assert 'holds no probe runs' in capsys.readouterr().err and list((tmp_path / 'benchmarks').iterdir()) == []
    def interrupted(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(bench, 'run_benchmark', interrupted)
    assert main(['bench', 'BasicMotions', '--out-dir', 'my runs']) == 130
    assert '--report-only' not in capsys.readouterr().err               # no run kept: that command would be refused
    _copy_a_committed_result(tmp_path / 'my runs')
    assert main(['bench', 'BasicMotions', '--out-dir', 'my runs']) == 130
    assert "timemae bench --report-only --out-dir 'my runs' --report BENCHMARKS.md` writes it" in capsys.readouterr().err
    monkeypatch.setattr(probe, 'run_probes', must_not_run)
    for names in (['BasicMotions', 'data/mine.npz'], ['UEA/BasicMotions']):  # a name among them: --root is used
        with pytest.raises(AssertionError, match='ran'):
            main(['probe', *names, '--root', 'typo', '--out-dir', 'p'])
    with pytest.raises(ValueError, match=r'runs of the epochs given, marked \(quick\)'):   # the library refuses it too
        real_run(['BasicMotions'], quick=True, pretrain_epochs=1, finetune_epochs=1, out_dir='q', report=None)


def test_a_wrong_prediction_is_not_matched_through_the_number_another_class_shares():
    "Classes '01' and '1': a series labelled '01' predicted '1' was scored right, since neither side alone spelt 1 twice."
    from tsai_timemae.evaluate import comparable_labels
    y, pred = np.array(['01'] * 3), np.array(['1'] * 3)
    a, b = comparable_labels(y, pred, classes=['01', '1'])
    assert not (a == b).any()
    a, b = comparable_labels(np.array(['1.0', '2']), pred[:2], classes=['1', '2'])   # one spelling each: numbers match
    assert list(a == b) == [True, False]


def test_numbers_match_among_text_labels():
    "A float label 1.0 against the classes '1' and 'other' became '1.0' against '1'."
    from tsai_timemae.evaluate import comparable_labels
    a, b = comparable_labels(np.array([1.0, 1.0]), np.array(['1', 'other']), classes=['1', 'other'])
    assert list(a == b) == [True, False]
    a, b = comparable_labels(np.array([b'a', b'1.0']), np.array(['a', '1']))
    assert list(a == b) == [True, True]


def test_evaluate_learner_reads_the_model_s_classes_when_it_matches_numbers():
    from tsai.all import TSClassification, get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE, evaluate_learner, predict_labels
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 2, 16)).astype('float32'), np.array(['01', '1'] * 15)
    dls = get_ts_dls(X, y, splits=(list(range(20)), list(range(20, 30))), tfms=[None, TSClassification()], bs=8)
    learn = ts_learner(dls, TimeMAE, d_model=16, n_layers=1, n_heads=2, d_ff=32, seed=0)
    said = predict_labels(learn, X)
    one = said == max(set(said), key=list(said).count)  # the series of the class said most: one spelling predicted
    wrong = np.where(said[one] == '1', '01', '1')       # ... each labelled with the other class
    assert evaluate_learner(learn, X[one], wrong)['accuracy'] == 0.0
    assert evaluate_learner(learn, X, said)['accuracy'] == 1.0


def test_one_number_written_two_ways_leaves_the_other_numbers_matching():
    "Classes '01', '1' and '2': 2.0 against '2' must still match; only 1 is ambiguous."
    from tsai_timemae.evaluate import comparable_labels
    a, b = comparable_labels(np.array([2.0, 1.0]), np.array(['2', '1']), classes=['01', '1', '2'])
    assert list(a == b) == [True, False]
    a, b = comparable_labels(np.array(['2.0', '01', '1']), np.array(['2', '1', '1']))   # y spells 1 twice
    assert list(a == b) == [True, False, True]


def test_predict_labels_and_evaluate_learner_check_the_batch_size(dls, basic_motions):
    """`bs=0` or `-1` ran without a word, `2.5` failed inside islice and `None` with a bare TypeError; get_embeddings
    already named the setting."""
    from tsai.all import ts_learner

    from tsai_timemae.all import TimeMAE, evaluate_learner, predict_labels
    from conftest import SMALL
    learn = ts_learner(dls, TimeMAE, **SMALL)
    X, y = basic_motions[2][:8], basic_motions[3][:8]
    for bs in (0, -1, 2.5, None, True):
        for call in (lambda: predict_labels(learn, X, bs=bs), lambda: evaluate_learner(learn, X, y, bs=bs)):
            with pytest.raises(ValueError, match='bs .*whole number'): call()
    assert len(predict_labels(learn, X, bs=np.int64(3))) == 8



def test_model_switches_given_as_text_and_impossible_head_settings_are_refused_by_name():
    """`pre_norm='false'` built a pre-norm model (text is truthy); `c_out=0` built a head of no outputs and `-1` failed
    in torch; `fc_dropout=1.5` got torch's message, which does not say which dropout."""
    from tsai_timemae.all import TimeMAE
    for kw, match in (({'pre_norm': 'false'}, 'pre_norm must be True or False'),
                      ({'residual_gain': 'False'}, 'residual_gain must be True or False'),
                      ({'check_finite': 'no'}, 'check_finite must be True or False'),
                      ({'c_out': 0}, 'c_out must be at least 1'), ({'c_out': -1}, 'c_out must be at least 1'),
                      ({'fc_dropout': 1.5}, 'fc_dropout')):
        with pytest.raises((TypeError, ValueError), match=match): TimeMAE(3, **{'c_out': 2, **kw})
    TimeMAE(3, 2, pre_norm=np.bool_(True))


def test_get_X_preds_takes_the_channels_the_data_gave_before_sel_vars_or_a_transform_adding_channels(basic_motions, splits, tmp_path):
    """`sel_vars=[0, 2]` or a batch transform that adds channels makes the model's channel count differ from the raw
    series': get_X_preds refused the very series the learner was trained on."""
    from fastai.learner import load_learner
    from tsai.all import TSClassification, get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE
    from conftest import SMALL
    X, y = basic_motions[:2]
    dls = get_ts_dls(X, y, splits=splits, tfms=[None, TSClassification()], sel_vars=[0, 2], bs=10)
    learn = ts_learner(dls, TimeMAE, **SMALL)
    assert learn.model.backbone.c_in == 2
    probs = learn.get_X_preds(X[:3])[0]
    assert tuple(probs.shape) == (3, 4)
    with pytest.raises(ValueError, match="the learner's training data had 6 channels"): learn.get_X_preds(X[:3, :5])
    # the other inference helpers take the same series (they refused them, and the 2 channels they asked for gave
    # an IndexError in tsai's selection)
    from tsai_timemae.all import evaluate_learner, get_embeddings, predict_labels
    assert list(predict_labels(learn, X[:3])) == list(np.asarray(learn.dls.vocab)[probs.argmax(1).numpy()])
    assert 0 <= evaluate_learner(learn, X[:3], y[:3])['accuracy'] <= 1
    assert get_embeddings(learn, X[:3]).shape == (3, SMALL['d_model'])
    for f in (lambda: predict_labels(learn, X[:3, :2]), lambda: evaluate_learner(learn, X[:3, :2], y[:3]),
              lambda: get_embeddings(learn, X[:3, :2])):
        with pytest.raises(ValueError, match="the learner's training data had 6 channels.*X has 2"): f()
    learn.export(tmp_path / 'sel.pkl')  # an exported learner keeps sel_vars but not the series
    loaded = load_learner(tmp_path / 'sel.pkl')
    torch.testing.assert_close(torch.as_tensor(loaded.get_X_preds(X[:3])[0]), torch.as_tensor(probs))
    with pytest.raises(ValueError, match=r'selects the variables \[0, 2\].*X has 2'): predict_labels(loaded, X[:3, :2])
    # a slice of the variables: refused as the model's 2 channels once exported, which tsai itself takes
    dls = get_ts_dls(X, y, splits=splits, tfms=[None, TSClassification()], sel_vars=slice(0, 2), bs=10)
    learn = ts_learner(dls, TimeMAE, **SMALL)
    learn.export(tmp_path / 'slice.pkl')
    loaded = load_learner(tmp_path / 'slice.pkl')
    assert predict_labels(loaded, X[:3]).shape == (3,) and get_embeddings(loaded, X[:3]).shape == (3, SMALL['d_model'])


def test_missing_targets_of_several_per_series_are_named_by_series():
    "A NaN in row 3 of (8, 2) targets was reported at 'position 7', a flat index no split has."
    from tsai_timemae.model import missing_labels
    y = np.zeros((8, 2)); y[3, 1] = np.nan; y[5, 0] = np.nan
    assert list(missing_labels(y)) == [3, 5]


def test_a_model_exports_with_torch_export_without_turning_the_finite_check_off():
    "The check for NaN and inf branched on the values, which torch.export cannot trace (GuardOnDataDependentSymNode)."
    from tsai_timemae.all import TimeMAE
    from conftest import SMALL
    m = TimeMAE(3, 2, **SMALL).eval()
    x = torch.randn(2, 3, 50)
    ep = torch.export.export(m, (x,))
    torch.testing.assert_close(ep.module()(x), m(x))
    with pytest.raises(ValueError, match='NaN'): m(torch.full((1, 3, 50), float('nan')))


def test_dropouts_that_would_train_nothing_and_settings_of_a_pretrainer_built_alone_are_refused_by_name():
    """`dropout=1` zeroed every block's output in training (no gradient reached them), `decoder_dropout=1.5` passed
    TimeMAEPretrain and failed with torch's words when the fit began; TimeMAEPretrainer built without its callback took
    decoupled='False' as True and failed on mask_ratio='0.6' with Python's comparison error; a tokenizer seed of 2**32
    passed and failed in scikit-learn when the codes were fitted."""
    from tsai_timemae.all import TimeMAE, TimeMAEBackbone, TimeMAEPretrain
    from tsai_timemae.pretrain import TimeMAEPretrainer
    with pytest.raises(ValueError, match=r"dropout \(the encoder blocks' dropout\) must be in \[0, 1\), got 1.0"): TimeMAE(3, 2, dropout=1.0)
    with pytest.raises(ValueError, match=r"decoder_dropout \(the decoupled encoder's dropout\) must be in \[0, 1\), got 1.5"):
        TimeMAEPretrain(decoder_dropout=1.5)
    bb = TimeMAEBackbone(2, 8, 16, 1, 2, 32, 0.1, 64)
    for kw, match in (({'decoupled': 'False'}, 'decoupled must be True or False'),
                      ({'mask_ratio': '0.6'}, r'mask_ratio must be a number.*Pass mask_ratio=0.6'),
                      ({'dropout': 1.0}, r"dropout \(the decoupled encoder's dropout\) must be in \[0, 1\)"),
                      ({'tokenizer': 'kmeans', 'tokenizer_kwargs': {'seed': 2**32}}, r'seed must be below 2\*\*32')):
        with pytest.raises((TypeError, ValueError), match=match): TimeMAEPretrainer(bb, **{'vocab_size': 8, 'n_decoder_layers': 1, **kw})
    with pytest.raises(ValueError, match=r'seed must be below 2\*\*32'): TimeMAEPretrain(tokenizer_kwargs={'seed': 2**32})
    TimeMAEPretrain(tokenizer='random_projection', tokenizer_kwargs={'seed': 2**40})  # torch's generator takes it
    TimeMAE(3, 2, dropout=0.)


def test_finite_input_that_overflows_in_the_models_dtype_is_named_not_left_to_give_nan():
    """The NaN check ran before the cast to the weights' dtype: 70000 in a float16 model, or a float64 1e39 read as
    float32, became inf after it and gave NaN outputs without a word (or 'impute first', for values that were not NaN)."""
    import torch
    from tsai_timemae.all import TimeMAE, get_embeddings
    arch = dict(seq_len=32, window=8, d_model=16, n_layers=1, n_heads=2, d_ff=32)
    x = torch.randn(2, 2, 32)
    x[0, 0, 3] = 7e4
    with pytest.raises(ValueError, match=r'finite values too large for float16 .*Standardise the series first.*keep the model in float32'):
        TimeMAE(2, 3, **arch).half().eval()(x)
    with pytest.raises(ValueError, match=r'finite values too large for float32 \(above 3.403e\+38'):
        TimeMAE(2, 3, **arch).eval()(torch.randn(2, 2, 32, dtype=torch.float64) * 1e39)
    with pytest.raises(ValueError, match=r'get_embeddings: X holds finite values too large for float32'):
        get_embeddings(TimeMAE(2, None, **arch), np.random.default_rng(0).normal(size=(3, 2, 32)) * 1e39)
    torch.manual_seed(0)
    m = TimeMAE(2, 3, **arch).eval()
    with torch.no_grad(): m.backbone.patch_embed.proj.weight.fill_(0.1)  # a patch of 16 values of 6e4 sums to 9.6e4
    with torch.autocast('cpu', dtype=torch.float16), pytest.raises(ValueError, match=r'under autocast.*too large for float16'):
        m(torch.full((2, 2, 32), 6e4))
    h = TimeMAE(2, 3, **arch).half().eval()
    with torch.no_grad(): h.backbone.patch_embed.proj.weight.fill_(0.1)  # each value fits float16, their sum does not
    with pytest.raises(ValueError, match=r'in 16-bit weights\) holds finite values too large for float16'):
        h(torch.full((2, 2, 32), 6e4))
    assert torch.isfinite(TimeMAE(2, 3, **arch).half().eval()(torch.randn(2, 2, 32))).all()  # ordinary values still run
    with pytest.raises(ValueError, match=r"NaN or inf values.*float64 data beyond float32's range"):
        TimeMAE(2, 3, **arch).eval()(torch.full((2, 2, 32), float('inf')))


def test_a_warning_shown_past_tsais_blanket_ignore_repeats_as_the_users_filters_say():
    """Past tsai's blanket ignore the warning went out through an edited filter list, which makes Python forget what
    it had shown: 'default' and 'once' repeated it on every call. Once per place, or once per session, as without tsai;
    'always' still every time, and a change of the user's filters forgets what was shown, as Python does."""
    import warnings
    from tsai_timemae.notices import TimeMAEWarning, timemae_warn
    def shown(action, calls=3, message='a warning of this test'):
        with warnings.catch_warnings(record=True) as seen:
            warnings.resetwarnings()
            warnings.filterwarnings('ignore', category=UserWarning)           # what `import tsai.data.core` does
            if action: warnings.filterwarnings(action, category=TimeMAEWarning)
            for _ in range(calls): timemae_warn(message)                      # one place
            timemae_warn(message)                                             # another place
        return len([w for w in seen if issubclass(w.category, TimeMAEWarning)])
    assert shown(None) == 2 and shown('default') == 2 and shown('module') == 1 and shown('once') == 1
    assert shown('always') == 4 and shown('ignore') == 0
    with warnings.catch_warnings(record=True) as seen:                        # the same filters in a new context:
        warnings.filterwarnings('ignore', category=UserWarning)               # shown again, as Python would
        for _ in range(2): timemae_warn('again in a new context')
    with warnings.catch_warnings(record=True) as again:
        warnings.filterwarnings('ignore', category=UserWarning)
        for _ in range(2): timemae_warn('again in a new context')
    assert len(seen) == len(again) == 1


def test_run_demo_takes_a_numpy_batch_size_and_run_benchmark_names_bad_seeds(monkeypatch, tmp_path):
    "np.int64(16) was refused as not a whole number; seeds=None or 1.5 ran until an internal error in the first run."
    import tsai_timemae.demo as demo
    from tsai_timemae.bench import run_benchmark
    class Reached(Exception): pass
    def reached(): raise Reached
    monkeypatch.setattr(demo, 'load_basic_motions', reached)
    with pytest.raises(Reached): demo.run_demo(bs=np.int64(16), target_dir=tmp_path / 'm', out_dir=tmp_path / 'o')
    for bad in (None, 1.5, -1, True):
        with pytest.raises(ValueError, match=rf'seeds must be whole numbers of at least 0, got {bad!r}'):
            run_benchmark(['BasicMotions'], ['timemae_linear'], seeds=bad if bad is not None else [None], report=None,
                          out_dir=tmp_path / 'b')
    assert not (tmp_path / 'b').exists()


def test_the_probe_refuses_settings_it_would_record_and_never_use_and_a_refused_resume_names_the_setting():
    """`--set save_every=1 --set resume=True` ran in a temporary folder deleted after each run (nothing to resume), and
    `--arch fc_dropout=0.9` set a head the probe never uses; both went into the tag as if they mattered. A resume refused
    for another TimeMAEPretrain setting printed both whole settings strings instead of the one that differs."""
    from tsai_timemae.pretrain import _differences
    from tsai_timemae.probe import check_setting_names
    for pre, arch, match in (({'save_every': 1}, {}, r'--set save_every=\.\.\.: the probe pretrains each run in a temporary folder'),
                             ({'resume': True}, {}, r'--set resume=\.\.\.: .*no state to resume; leave it out'),
                             ({}, {'fc_dropout': 0.9}, r"--arch fc_dropout=\.\.\.: fc_dropout belongs to the classifier head, which the probe does not use"),
                             ({}, {'c_in': 3}, r'--arch c_in=\.\.\.: c_in comes from the data set; leave it out')):
        with pytest.raises(ValueError, match=match): check_setting_names(pre, arch)
    there, now = {'pretrain': repr({'mask_ratio': 0.6, 'vocab_size': 8})}, {'pretrain': repr({'mask_ratio': 0.6, 'vocab_size': 16})}
    assert _differences(there, now) == ['pretrain.vocab_size: 8 there, 16 now']
    assert _differences({'n_acc': None, 'opt': {'wd': None}}, {'opt': {}}) == ['opt.wd: None there, absent now', 'n_acc: None there, absent now']


def test_speed_report_only_refuses_measuring_options_and_small_reviews_of_speed_distributed_and_demo(tmp_path, capsys):
    """`timemae speed --report-only --threads 8` dropped the option without a word (bench and probe refuse it); the
    no-attention-dropout sweep rows measured a default-size model beside a tiny `arch`; np.float32 metrics were not
    averaged over ranks (returned as each rank's own); run_demo(pretrain_epochs=0) failed after the first row trained."""
    from tsai_timemae import speed
    from tsai_timemae.cli import main
    from tsai_timemae.demo import run_demo
    from tsai_timemae.distributed import _is_number
    assert main(['speed', '--report-only', '--out', str(tmp_path), '--threads', '8', '--rounds', '3']) == 2
    err = capsys.readouterr().err
    assert '--report-only measures nothing' in err and '--threads, --rounds would be ignored' in err
    tiny = {'d_model': 16, 'n_layers': 1}
    assert speed._task('timemae_attn0', 64, 8, 16, ['train'], arch={'timemae': tiny})['arch'] == tiny
    assert speed._task('mvp', 64, 8, 16, ['train'], arch={'timemae': tiny})['arch'] is None
    assert [_is_number(v) for v in (np.float32(1), np.int64(2), np.array(1.), True, np.bool_(True), np.ones(2))] == [True, True, True, False, False, False]
    for kw in ({'pretrain_epochs': 0}, {'finetune_epochs': 1.5}):
        with pytest.raises(ValueError, match=f'{list(kw)[0]} must be a whole number of at least 1'):
            run_demo(target_dir=tmp_path / 'm', out_dir=tmp_path / 'o', **kw)


def test_a_warning_past_tsais_ignore_leaves_the_filters_another_thread_sets_alone():
    """Past tsai's blanket ignore the warning went out through an edited filter list, put back afterwards: a filter
    another thread added meanwhile was lost with it (a training warning in a background fit undid the main thread's
    `filterwarnings`). The filters are now read, never edited."""
    import threading, time, warnings
    from tsai_timemae.notices import timemae_warn
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', category=UserWarning)                  # what `import tsai.data.core` does
        warnings.filterwarnings('ignore', message='from the other thread')       # decided, and silent
        stop = threading.Event()
        def warn_until_stopped():
            while not stop.is_set(): timemae_warn('from the other thread')
        other = threading.Thread(target=warn_until_stopped)
        other.start()
        lost, added = 0, 200
        try:
            for i in range(added):
                mine = f'added by this thread {i}'
                warnings.filterwarnings('ignore', message=mine)
                time.sleep(0)                                                     # let the other thread run
                lost += not any(f[1] is not None and f[1].pattern == mine for f in warnings.filters)
        finally:
            stop.set()
            other.join()
    assert lost == 0, f'{lost} of {added} filters lost'


def test_a_warning_past_tsais_ignore_is_recorded_in_every_new_catch_warnings_block(tmp_path, monkeypatch):
    """Python forgets what it has shown on entering `catch_warnings`. Past tsai's blanket ignore the package kept its own
    record keyed by the filter list's id, which the next block's list often reuses: the warning was missing from every
    block after the first. And from an imported module, `stacklevel=2` named importlib instead of the import line."""
    import sys, warnings
    from tsai_timemae.notices import TimeMAEWarning, timemae_warn
    counts = []
    for _ in range(4):
        with warnings.catch_warnings(record=True) as seen:
            warnings.filterwarnings('ignore', category=UserWarning)           # what `import tsai.data.core` does
            timemae_warn('recorded in each block')
        counts.append(len(seen))
    assert counts == [1, 1, 1, 1]
    (tmp_path / 'warns_on_import.py').write_text('from tsai_timemae.notices import timemae_warn\n'
                                                 "timemae_warn('said while importing', stacklevel=2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with warnings.catch_warnings(record=True) as seen:
        warnings.filterwarnings('ignore', category=UserWarning)
        import warns_on_import  # noqa: F401                                  # the line it must name
    sys.modules.pop('warns_on_import', None)
    assert [(w.category, w.filename) for w in seen] == [(TimeMAEWarning, __file__)]


def test_the_unloaded_weights_path_warning_names_the_users_line(tmp_path):
    "`ts_learner(dls, TimeMAE, weights_path=...)` without pretrained=True warned at a line above the user's (stacklevel 4)."
    import warnings
    from tsai_timemae.all import save_encoder_weights
    w = save_encoder_weights(TimeMAE(3, None, **SMALL), tmp_path / 'enc.pth')
    X, y = _data()
    def build(): return ts_learner(_dls(X, y), TimeMAE, weights_path=w, **SMALL)
    with warnings.catch_warnings(record=True) as seen:
        warnings.filterwarnings('ignore', category=UserWarning)
        build()
    said = [x for x in seen if 'is not loaded without pretrained=True' in str(x.message)]
    assert [(x.filename, x.lineno) for x in said] == [(__file__, build.__code__.co_firstlineno)]


def test_every_commands_help_states_each_options_default():
    "`timemae speed --help` showed no default (a bare run rewrites the committed report; 2 threads, batch 128, 8192 steps)."
    import argparse
    import importlib
    from tsai_timemae.cli import COMMANDS
    unsaid = []
    for name, (module, _) in COMMANDS.items():
        p = argparse.ArgumentParser()
        importlib.import_module(module).add_args(p)
        unsaid += [(name, a.option_strings[0]) for a in p._actions if a.option_strings and not isinstance(a, argparse._HelpAction)
                   and a.default not in (None, False, [], argparse.SUPPRESS) and 'default' not in (a.help or '')]
    assert unsaid == []


def test_ctrl_c_while_a_command_starts_is_one_line(monkeypatch, capsys):
    "Importing torch, fastai and tsai takes seconds; a Ctrl-C then printed a 40-line traceback (rc -2), not one line."
    import importlib
    from tsai_timemae import cli
    real = importlib.import_module
    def interrupted(name, *a, **k):
        if name.startswith('tsai_timemae.'): raise KeyboardInterrupt
        return real(name, *a, **k)
    monkeypatch.setattr(cli.importlib, 'import_module', interrupted)
    assert cli.main(['demo', '--draws', '1']) == 130
    assert capsys.readouterr().err.strip() == 'timemae demo: interrupted while starting; nothing was written.'
