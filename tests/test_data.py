"""Data set loaders: TS-TCC .pt, UEA/UCR .ts (incl. variable length), numpy; splits; clear errors for missing or bad files."""

import warnings

import numpy as np
import pytest
import torch

from tsai_timemae.data import (TSDataset, data_root_candidates, default_data_root, find_dataset, load_dataset,
                               read_tstcc_pt, recording_groups, shared_recording_fraction, split_train_valid)

UEA = default_data_root() / 'UEA'
HAR = default_data_root() / 'HAR'
needs_uea = pytest.mark.skipif(not UEA.is_dir(), reason=f'benchmark data not found at {UEA} '
                               '(set TIMEMAE_DATA to a folder holding UEA/<Name>/<Name>_TRAIN.ts)')


def _tstcc(folder, n=(30, 10, 12), c=3, t=24, with_val=True, seed=0):
    "Write a tiny TS-TCC data set (train.pt, val.pt, test.pt) with 3 balanced classes."
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, k in zip(('train', 'val', 'test'), n):
        if split == 'val' and not with_val: continue
        torch.save({'samples': torch.tensor(rng.normal(size=(k, c, t)), dtype=torch.float32),
                    'labels': torch.arange(k) % 3}, folder / f'{split}.pt')
    return folder


def _npz(path, n=40, c=2, t=16, n_classes=4, **extra):
    rng = np.random.default_rng(1)
    y = np.arange(n) % n_classes
    np.savez(path, X_train=rng.normal(size=(n, c, t)), y_train=y, X_test=rng.normal(size=(12, c, t)),
             y_test=np.arange(12) % n_classes, **extra)
    return path


class NotATensor:
    "An arbitrary object: a .pt file holding one must never be unpickled."
    def __reduce__(self): return (print, ('unpickled!',))


# -- TS-TCC ---------------------------------------------------------------------------------------------------------
def test_tstcc_folder_keeps_its_own_validation_split(tmp_path):
    ds = load_dataset(_tstcc(tmp_path / 'Toy'))
    assert isinstance(ds, TSDataset) and ds.name == 'Toy' and ds.valid_from == 'file'
    assert (ds.X_train.shape, ds.X_valid.shape, ds.X_test.shape) == ((30, 3, 24), (10, 3, 24), (12, 3, 24))
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64 and ds.n_classes == 3
    X, y, splits = ds.as_tsai()
    assert len(X) == 40 and splits == (list(range(30)), list(range(30, 40)))
    np.testing.assert_array_equal(X, np.concatenate([ds.X_train, ds.X_valid]))
    np.testing.assert_array_equal(y, np.concatenate([ds.y_train, ds.y_valid]))   # each label beside its own series


def test_tstcc_by_name_under_root_and_without_val_gets_a_split(tmp_path):
    _tstcc(tmp_path / 'Toy', with_val=False)
    ds = load_dataset('Toy', root=tmp_path, valid_size=0.2, seed=0)
    assert len(ds.X_train) == 24 and len(ds.X_valid) == 6 and ds.valid_from.startswith('stratified')


def test_tstcc_two_dimensional_samples_become_one_channel(tmp_path):
    torch.save({'samples': torch.zeros(5, 20), 'labels': torch.zeros(5, dtype=torch.long)}, tmp_path / 'train.pt')
    X, y = read_tstcc_pt(tmp_path / 'train.pt')
    assert X.shape == (5, 1, 20)


def test_tstcc_file_with_a_pickled_object_is_refused_not_executed(tmp_path, capsys):
    f = tmp_path / 'train.pt'
    torch.save({'samples': torch.zeros(4, 1, 8), 'labels': torch.zeros(4, dtype=torch.long), 'x': NotATensor()}, f)
    with pytest.raises(ValueError, match='arbitrary Python objects'):
        read_tstcc_pt(f)
    assert 'unpickled!' not in capsys.readouterr().out


def test_tstcc_corrupt_or_wrong_files_are_clear_errors(tmp_path):
    (tmp_path / 'bad.pt').write_bytes(b'not a torch file at all')
    with pytest.raises(ValueError, match='corrupt'):
        read_tstcc_pt(tmp_path / 'bad.pt')
    torch.save({'x': torch.zeros(3)}, tmp_path / 'keys.pt')
    with pytest.raises(ValueError, match="'samples' and 'labels'"):
        read_tstcc_pt(tmp_path / 'keys.pt')
    torch.save({'samples': torch.zeros(4, 1, 8), 'labels': torch.zeros(3, dtype=torch.long)}, tmp_path / 'n.pt')
    with pytest.raises(ValueError, match='one label per sample'):
        read_tstcc_pt(tmp_path / 'n.pt')


def test_mismatched_shapes_across_splits_are_refused(tmp_path):
    _tstcc(tmp_path / 'Toy')
    torch.save({'samples': torch.zeros(12, 3, 30), 'labels': torch.arange(12) % 3}, tmp_path / 'Toy' / 'test.pt')
    with pytest.raises(ValueError, match='different'):
        load_dataset(tmp_path / 'Toy')


# -- numpy ----------------------------------------------------------------------------------------------------------
def test_npz_and_npy_folder(tmp_path):
    ds = load_dataset(_npz(tmp_path / 'toy.npz'), valid_size=0.25, seed=0)
    assert ds.name == 'toy' and ds.X_train.shape == (30, 2, 16) and ds.X_valid.shape == (10, 2, 16)
    assert ds.X_test.dtype == np.float32
    folder = tmp_path / 'npyset'
    folder.mkdir()
    for k in ('X_train', 'y_train', 'X_valid', 'y_valid', 'X_test', 'y_test'):
        np.save(folder / f'{k}.npy', np.zeros((6, 8)) if k.startswith('X') else np.arange(6) % 2)
    ds = load_dataset(folder)
    assert ds.valid_from == 'file' and ds.X_train.shape == (6, 1, 8)


def test_one_hot_or_column_labels_in_a_file_name_the_fix(tmp_path):
    from tsai_timemae.data import read_numpy
    X = np.zeros((12, 1, 5))
    np.savez(tmp_path / 'onehot.npz', X_train=X, y_train=np.eye(3)[np.arange(12) % 3], X_test=X, y_test=np.arange(12) % 3)
    with pytest.raises(ValueError, match=r'labels of shape \(12, 3\)\. .*y.ravel\(\).*y.argmax\(1\)'):
        read_numpy(tmp_path / 'onehot.npz')


def test_npz_with_object_arrays_is_refused(tmp_path):
    X = np.empty(4, dtype=object)
    for i in range(4): X[i] = np.zeros((1, 5))
    np.savez(tmp_path / 'obj.npz', X_train=X, y_train=np.arange(4), X_test=X, y_test=np.arange(4))
    with pytest.raises(ValueError, match='object arrays'):
        load_dataset(tmp_path / 'obj.npz')


def test_missing_labels_are_named_where_they_are_read(tmp_path):
    "Before, one NaN training label surfaced as 'a class has only 1 training sample', or as sklearn's 'Input y contains NaN'."
    y = np.arange(12.) % 2
    y[3] = np.nan
    np.savez(tmp_path / 'nanlab.npz', X_train=np.zeros((12, 1, 5)), y_train=y, X_test=np.zeros((4, 1, 5)),
             y_test=np.arange(4) % 2)
    with pytest.raises(ValueError, match=r"nanlab.npz \(train\): 1 of the 12 labels are missing.*positions \[3\].*drop"):
        load_dataset(tmp_path / 'nanlab.npz')
    # withheld test labels load (the probe never reads them); `timemae bench`, which scores them, refuses them
    np.savez(tmp_path / 'notest.npz', X_train=np.zeros((12, 1, 5)), y_train=np.arange(12) % 2, X_test=np.zeros((4, 1, 5)),
             y_test=np.full(4, np.nan))
    load_dataset(tmp_path / 'notest.npz')
    from tsai_timemae.bench import run_benchmark
    with pytest.raises(ValueError, match=r'notest \(test\): 4 of the 4 labels are missing'):
        run_benchmark([str(tmp_path / 'notest.npz')], ['timemae_linear_untrained'], seeds=[0], out_dir=tmp_path / 'o',
                      report=None, quick=True, bar=False)


def test_complex_samples_are_refused_not_cut_to_their_real_part(tmp_path):
    "float32 kept the real part alone, with numpy's ComplexWarning as the only sign."
    X = np.ones((6, 2, 8)) * (1 + 2j)
    np.savez(tmp_path / 'cx.npz', X_train=X, y_train=np.arange(6) % 2, X_test=X, y_test=np.arange(6) % 2)
    with pytest.raises(ValueError, match=r'cx.npz \(train\): the samples hold complex numbers.*np.abs\(X\)'):
        load_dataset(tmp_path / 'cx.npz')


def test_an_array_with_more_channels_than_steps_warns_once_of_a_transposed_layout(tmp_path):
    """HAR saved as [N, 128, 9] loaded as 128 channels of 9 steps, silently: the window then cut across channels. Once
    per data set (not per split), and shown although tsai ignores every UserWarning once imported."""
    import warnings
    import tsai.data.core  # noqa: F401  (its import adds filterwarnings('ignore', category=UserWarning))
    from tsai_timemae.notices import TimeMAEWarning
    X = np.random.default_rng(0).normal(size=(8, 24, 3))                       # [samples, steps, channels]
    np.savez(tmp_path / 'nt.npz', X_train=X, y_train=np.arange(8) % 2, X_test=X, y_test=np.arange(8) % 2)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('ignore', UserWarning)                           # as tsai leaves the filters
        ds = load_dataset(tmp_path / 'nt.npz')
    hits = [w for w in seen if issubclass(w.category, TimeMAEWarning) and 'more channels than steps' in str(w.message)]
    assert len(hits) == 1, [str(w.message) for w in seen]
    assert "read as 24 channels of 3 steps" in str(hits[0].message) and 'X.transpose(0, 2, 1)' in str(hits[0].message)
    assert hits[0].filename == __file__                                        # names the caller's line
    assert ds.X_train.shape[1:] == (24, 3)                                     # loaded as given: the user decides
    np.savez(tmp_path / 'ok.npz', X_train=X.transpose(0, 2, 1), y_train=np.arange(8) % 2, X_test=X.transpose(0, 2, 1) + 1,
             y_test=np.arange(8) % 2)  # test series of their own (copies of training ones are warned about)
    with warnings.catch_warnings():
        warnings.simplefilter('error', TimeMAEWarning)
        load_dataset(tmp_path / 'ok.npz')                                      # [samples, channels, steps]: no word


def test_an_empty_validation_split_in_the_files_is_refused_with_the_way_to_get_one(tmp_path):
    X, y = np.zeros((12, 1, 5)), np.arange(12) % 2
    np.savez(tmp_path / 'nov.npz', X_train=X, y_train=y, X_valid=X[:0], y_valid=y[:0], X_test=X[:4], y_test=y[:4])
    with pytest.raises(ValueError, match=r'nov.npz: the validation split holds no series. Leave X_valid and y_valid out'):
        load_dataset(tmp_path / 'nov.npz')


def test_npz_missing_arrays_named(tmp_path):
    """The arrays missing, the ones the file holds, and for a missing test split where to measure without one; the
    probe (no test split read) asks only for the training arrays."""
    np.savez(tmp_path / 'half.npz', X_train=np.zeros((4, 1, 5)), y_train=np.arange(4))
    with pytest.raises(ValueError, match=r"\['X_test', 'y_test'\].*timemae probe"):
        load_dataset(tmp_path / 'half.npz')
    np.savez(tmp_path / 'naive.npz', X=np.zeros((4, 1, 5)), y=np.arange(4))
    with pytest.raises(ValueError, match=r"lacks \['X_train', 'y_train'\] \(it holds \['X', 'y'\]\); .*X_train and y_train \("):
        load_dataset(tmp_path / 'naive.npz', require_test=False)


# -- the validation split ---------------------------------------------------------------------------------------------
def test_split_is_stratified_seeded_and_disjoint():
    X = np.arange(100, dtype=np.float32).reshape(100, 1, 1)
    y = np.repeat(['a', 'b', 'c', 'd'], [40, 30, 20, 10])
    Xtr, ytr, Xva, yva = split_train_valid(X, y, 0.2, seed=3)
    assert dict(zip(*np.unique(yva, return_counts=True))) == {'a': 8, 'b': 6, 'c': 4, 'd': 2}
    assert not set(Xtr.ravel()) & set(Xva.ravel()) and len(Xtr) + len(Xva) == 100
    again = split_train_valid(X, y, 0.2, seed=3)
    other = split_train_valid(X, y, 0.2, seed=4)
    np.testing.assert_array_equal(again[2], Xva)
    assert not np.array_equal(other[2], Xva)


def test_split_errors():
    X, y = np.zeros((5, 1, 3)), np.array([0, 0, 1, 1, 2])
    with pytest.raises(ValueError, match="Class 2 has only 1 training sample"):
        split_train_valid(X, y, 0.4)
    with pytest.raises(ValueError, match="Class 'c' has only 1 training sample"):           # text labels as objects
        split_train_valid(X, np.array(['a', 'a', 'b', 'b', 'c'], dtype=object), 0.4)
    with pytest.raises(ValueError, match='valid_size'):
        split_train_valid(X, y, 1.5)
    X, y = np.zeros((6, 1, 3)), np.array([0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match='leaves 2 for validation .* each of the 3 classes on both sides'):
        split_train_valid(X, y, 0.2)                            # scikit-learn's own message offers no way out
    with pytest.raises(ValueError, match='holds no series'):
        split_train_valid(X[:0], y[:0], 0.2)


def test_missing_or_infinite_values_are_refused_before_a_benchmark_runs(tmp_path, capsys):
    "Named with a count before any run, instead of at TimeMAE's first batch (or never, by the tsai baselines)."
    from tsai_timemae.cli import main
    from tsai_timemae.data import check_finite
    X = np.random.default_rng(0).normal(size=(40, 2, 16))
    X[3, 1, 5], X[7, 0, 0] = np.nan, np.inf
    path = _npz(tmp_path / 'gaps.npz')
    with np.load(path) as f: arrays = dict(f)
    X_test = arrays['X_test'].copy()
    X_test[0, 0, 0] = np.nan
    np.savez(path, **{**arrays, 'X_train': X, 'X_test': X_test})
    ds = load_dataset(path)                       # loading allows them: the probe never reads a split it must not
    with pytest.raises(ValueError, match=r'gaps: values are missing or infinite \(train: 2 values in 2 of the 32 series; '
                                         r'test: 1 value in 1 of the \d+ series\).*impute'):  # every split's count at once
        check_finite(ds)
    check_finite(ds, splits=('valid',))
    assert main(['bench', str(path), '--out-dir', str(tmp_path / 'b'), '--report', str(tmp_path / 'B.md')]) == 2
    assert 'missing or infinite' in capsys.readouterr().err and not (tmp_path / 'b' / 'results').exists()


def test_a_path_that_does_not_exist_says_so(tmp_path):
    for p in (tmp_path / 'nofile.npz', tmp_path / 'no_folder', 'relative/typo.npz', './relative/typo', 'relative/typo'):
        with pytest.raises(FileNotFoundError, match='No such file or folder: .*typo'):
            load_dataset(p)
    with pytest.raises(FileNotFoundError) as e: load_dataset('relative/typo')   # short: not every folder searched
    assert 'Searched:' not in str(e.value) and len(str(e.value)) < 400


# -- finding data sets --------------------------------------------------------------------------------------------------
def _sliding_windows(lengths=(7, 4, 1, 3), c=2, t=8, hop=4, seed=0):
    "Windows cut with a hop from recordings of the given numbers of windows, shuffled; and which recording each is."
    rng = np.random.default_rng(seed)
    wins, rec = [], []
    for r, k in enumerate(lengths):
        x = rng.normal(size=(c, t + hop * (k - 1))).astype(np.float32)
        for s in range(k): wins.append(x[:, s * hop:s * hop + t]); rec.append(r)
    order = rng.permutation(len(wins))
    return np.stack(wins)[order], np.array(rec)[order]


def test_recording_groups_find_the_chains_of_sliding_windows():
    X, rec = _sliding_windows()
    g = recording_groups(X)
    assert len(g) == len(X) and set(g) == {0, 1, 2, 3}
    assert all(len(set(g[rec == r])) == 1 for r in range(4))               # one id per recording, none shared
    assert g[0] == 0                                                         # numbered in order of first window
    X6, rec6 = _sliding_windows(hop=2, t=8)
    assert len(set(recording_groups(X6, overlap=6))) == 4
    assert len(set(recording_groups(X6))) == 2 + 2 + 1 + 2                   # half a window: every other one chains
    scaled = X / X.std(axis=(1, 2), keepdims=True)                           # standardised window by window
    assert len(set(recording_groups(scaled))) == len(X)                     # exact matching: nothing found


def test_shared_recording_fraction_tells_a_grouped_split_from_a_random_one():
    X, rec = _sliding_windows(lengths=(6, 6, 6, 6))
    held = np.isin(rec, [1, 3])
    assert shared_recording_fraction(X[~held], X[held]) == 0.
    assert shared_recording_fraction(X[::2], X[1::2]) == 1.
    assert shared_recording_fraction(X, X[:0]) == 0.


def test_recording_groups_errors_name_the_fix():
    with pytest.raises(ValueError, match=r'between 1 and 7 for 8-step windows; got 8'):
        recording_groups(np.zeros((3, 1, 8)), overlap=8)
    with pytest.raises(ValueError, match=r'windows \[n, channels, steps\]'):
        recording_groups(np.zeros((3, 8)))


@pytest.mark.skipif(not HAR.is_dir(), reason=f'HAR not found at {HAR}')
def test_har_validation_windows_share_recordings_with_training_none_found_in_epilepsy():
    "HAR's file split is random over half-overlapping windows: every validation window's recording is in training."
    ds = load_dataset('HAR')
    assert shared_recording_fraction(ds.X_train, ds.X_valid) > 0.99
    assert shared_recording_fraction(np.concatenate([ds.X_train, ds.X_valid]), ds.X_test) == 0.  # other people
    assert len(set(recording_groups(np.concatenate([ds.X_train, ds.X_valid])))) == 600
    if (default_data_root() / 'Epilepsy').is_dir():                          # its segments are cut side by side
        ep = load_dataset('Epilepsy')
        assert shared_recording_fraction(ep.X_train, ep.X_valid) == 0.


def test_missing_data_set_names_every_path_searched(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_dataset('SpokenArabicDigits', root=tmp_path)
    msg = str(e.value)
    assert str(tmp_path / 'SpokenArabicDigits') in msg and str(tmp_path / 'UEA' / 'SpokenArabicDigits') in msg
    assert 'Nothing is downloaded' in msg


def test_env_var_overrides_the_default_root(tmp_path, monkeypatch):
    monkeypatch.setenv('TIMEMAE_DATA', str(tmp_path))
    assert data_root_candidates() == [tmp_path] and default_data_root() == tmp_path
    _tstcc(tmp_path / 'Mine')
    assert find_dataset('Mine') == (tmp_path / 'Mine', 'tstcc')
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_dataset('UWaveGestureLibrary')


def test_a_folder_that_is_no_data_set_is_explained(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='not a data set folder'):
        load_dataset(tmp_path / 'empty')


# -- real UEA/UCR .ts files ----------------------------------------------------------------------------------------------
@needs_uea
def test_basic_motions_ts():
    ds = load_dataset('BasicMotions', seed=0)
    assert (len(ds.X_train), len(ds.X_valid), len(ds.X_test)) == (32, 8, 40)
    assert (ds.c_in, ds.seq_len, ds.n_classes) == (6, 100, 4) and ds.X_train.dtype == np.float32
    assert set(np.unique(ds.y_valid, return_counts=True)[1]) == {2}       # 2 of each class: stratified
    assert np.isfinite(ds.X_test).all() and ds.info == {}


@needs_uea
def test_ecg200_univariate_ts():
    ds = load_dataset('ECG200')
    assert (ds.c_in, ds.seq_len, ds.n_classes, len(ds.X_test)) == (1, 96, 2, 100)


@needs_uea
def test_japanese_vowels_variable_length_is_padded_at_the_end():
    ds = load_dataset('JapaneseVowels')
    assert ds.seq_len == 29 and ds.c_in == 12 and len(ds.X_test) == 370
    assert ds.info['variable_length'] and ds.info['min_length'] == 7 and ds.info['max_length'] == 29
    nan = load_dataset('JapaneseVowels', pad_value=np.nan)
    observed = ~np.isnan(nan.X_train).all(1)                               # [N, T]: steps with data
    lengths = observed.sum(1)
    assert lengths.min() < 29 and lengths.max() <= 29
    for row, n in zip(observed, lengths): assert row[:n].all() and not row[n:].any()   # data first, padding after
    short = np.argmin(lengths)
    assert (ds.X_train[short, :, lengths[short]:] == 0).all()             # default padding value 0
    np.testing.assert_array_equal(ds.X_train[short, :, :lengths[short]], nan.X_train[short, :, :lengths[short]])


@needs_uea
def test_names_aliases_and_uea_epilepsy_are_distinct():
    path, fmt = find_dataset('UWave')
    assert path.name == 'UWaveGestureLibrary' and fmt == 'ts'
    if (default_data_root() / 'Epilepsy' / 'train.pt').is_file():
        assert find_dataset('Epilepsy')[1] == 'tstcc'
        assert find_dataset('UEA/Epilepsy') == (UEA / 'Epilepsy', 'ts')
        assert load_dataset('UEA/Epilepsy').name == 'UEA/Epilepsy'


def test_corrupt_ts_file_is_a_clear_error(tmp_path):
    d = tmp_path / 'Broken'
    d.mkdir()
    (d / 'Broken_TRAIN.ts').write_text('@problemName Broken\n@univariate true\n@classLabel true a b\n@data\n1,2,x:zz\n')
    (d / 'Broken_TEST.ts').write_text('@problemName Broken\n@data\n')
    with pytest.raises(ValueError, match='Could not parse'):
        load_dataset(d)


def test_a_constant_channel_scales_to_zero_not_nan():
    "A sensor that never changes (std 0) must not turn a whole batch into NaN, which the input check would blame on the data."
    import numpy as np
    import torch
    from tsai_timemae.data import standardize_by_channel
    X = np.random.default_rng(0).normal(size=(8, 2, 20)).astype('float32')
    X[:, 1] = 3.
    from tsai.data.core import TSTensor
    out = standardize_by_channel(X)(TSTensor(torch.from_numpy(X))).data
    assert torch.isfinite(out).all() and torch.equal(out[:, 1], torch.zeros(8, 20))
    assert abs(float(out[:, 0].mean())) < 1e-5 and abs(float(out[:, 0].std()) - 1) < 0.05
    st = standardize_by_channel(X)                                          # the training statistics, exactly
    np.testing.assert_allclose(np.asarray(st.mean).ravel(), X.mean((0, 2)), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(st.std).ravel()[0], X[:, 0].std(), rtol=1e-5)


def test_a_local_folder_named_like_a_data_set_does_not_hide_it(tmp_path, monkeypatch):
    "`timemae bench BasicMotions --out-dir BasicMotions` worked once, then its own output folder hid the data set."
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'BasicMotions').mkdir()                                  # an output folder, not data
    path, fmt = find_dataset('BasicMotions')
    assert fmt == 'ts' and path != tmp_path / 'BasicMotions'
    (tmp_path / 'NoSuchSet').mkdir()
    with pytest.raises(FileNotFoundError, match=r'NoSuchSet is not a data set folder.*No data set of that name was found in the data folders either'):
        find_dataset('NoSuchSet')
    with pytest.raises(FileNotFoundError, match='not a data set folder'):
        find_dataset(str(tmp_path / 'NoSuchSet'))                         # a path is taken as a path
    (tmp_path / 'GunPoint').mkdir()
    with pytest.raises(FileNotFoundError, match='not a data set folder'):
        find_dataset('./GunPoint')                                        # so is ./name


def test_a_rare_class_is_on_both_sides_of_the_validation_split():
    """A stratified split rounds each class's share: 3 series of a class among 40 with 8 validated gave that class no
    validation series (or, at valid_size 0.8, no training series). Every class must be trained and validated."""
    y = np.array(['a'] * 3 + ['b'] * 3 + ['c'] * 3 + ['d'] * 31)
    X = np.arange(40, dtype=np.float32).reshape(40, 1, 1).repeat(4, 2)
    for valid_size in (0.2, 0.5, 0.8):
        Xtr, ytr, Xva, yva = split_train_valid(X, y, valid_size, seed=42)
        assert set(ytr) == set(yva) == set(y), (valid_size, ytr, yva)
        assert len(yva) == int(np.ceil(valid_size * 40)) and len(ytr) + len(yva) == 40
        assert sorted(Xtr[:, 0, 0].tolist() + Xva[:, 0, 0].tolist()) == list(range(40))   # disjoint, nothing lost
        assert [y[int(i)] for i in Xtr[:, 0, 0]] == list(ytr)                               # labels stay with series


def test_validation_arrays_named_val_are_the_validation_split(tmp_path):
    "TS-TCC names it `val`: `X_val`/`y_val` in an .npz are read as the validation split, not dropped."
    rng = np.random.default_rng(0)
    ds = load_dataset(_npz(tmp_path / 'v.npz', X_val=rng.normal(size=(6, 2, 16)), y_val=np.arange(6) % 4))
    assert ds.valid_from == 'file' and len(ds.X_valid) == 6 and len(ds.X_train) == 40
    with pytest.raises(ValueError, match='both X_val and X_valid'):
        load_dataset(_npz(tmp_path / 'w.npz', X_val=np.zeros((6, 2, 16)), y_val=np.arange(6) % 4,
                          X_valid=np.zeros((6, 2, 16)), y_valid=np.arange(6) % 4))
    np.save(tmp_path / 'one.npy', np.zeros((4, 1, 5)))
    (tmp_path / 'one.npy').rename(tmp_path / 'one.npz')
    with pytest.raises(ValueError, match=r'holds one array.*np.savez\(path, X_train='): load_dataset(tmp_path / 'one.npz')


def test_a_root_that_does_not_exist_is_an_error_not_sktimes_copy(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"root='.*no_such_dir' does not exist.*typo"):
        load_dataset('GunPoint', root=tmp_path / 'no_such_dir')


def test_a_data_folder_variable_that_names_no_folder_says_so(tmp_path, monkeypatch):
    "A misspelt $TIMEMAE_DATA gave 'not found... Data sets in the data folders: none', never naming the variable."
    monkeypatch.setenv('TIMEMAE_DATA', str(tmp_path / 'no_such_dir'))
    with pytest.raises(FileNotFoundError, match=r"'HAR' not found: \$TIMEMAE_DATA='.*no_such_dir' is not a folder that exists.*typo"):
        load_dataset('HAR')
    # sktime's bundled sets need no data folder; read from there, a note names the variable (a typo went unseen)
    from tsai_timemae.notices import TimeMAEWarning
    with pytest.warns(TimeMAEWarning, match=r"\$TIMEMAE_DATA='.*no_such_dir' is not a folder that exists: BasicMotions is read from the copy bundled with sktime"):
        assert load_dataset('BasicMotions').X_train.shape[1] == 6
    monkeypatch.setenv('TIMEMAE_DATA', str(tmp_path))          # a folder that exists, without the data set: not "set it"
    with pytest.raises(FileNotFoundError, match=r"point \$TIMEMAE_DATA \(now '.*'\) at the folder that holds them"):
        load_dataset('HAR')


def test_read_ts_files_takes_one_path(tmp_path):
    from tsai_timemae.data import read_ts_files, sktime_bundled_folder
    f = sktime_bundled_folder('BasicMotions') / 'BasicMotions_TRAIN.ts'
    (X, y, lengths), = read_ts_files(str(f))
    assert X.shape == (40, 6, 100) and len(y) == 40
    with pytest.raises(ValueError, match='at least one .ts file'): read_ts_files([])


def test_standardize_by_channel_takes_univariate_2d_and_refuses_nan():
    from tsai_timemae.data import standardize_by_channel
    X = np.random.default_rng(0).normal(3, 2, size=(10, 20)).astype(np.float32)
    st = standardize_by_channel(X)
    assert tuple(st.mean.shape) == (1, 1, 1) and float(st.mean.flatten()[0]) == pytest.approx(X.mean(), abs=1e-5)
    assert float(st.std.flatten()[0]) == pytest.approx(X.std(), rel=1e-5)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match='NaN or inf.*impute'): standardize_by_channel(X)


def test_regression_labels_are_named_as_such(tmp_path):
    "Continuous labels (a .ts file with @targetLabel) would each be a class: the error says it is regression."
    path = _npz(tmp_path / 'reg.npz')
    arrays = dict(np.load(path))
    arrays['y_train'] = np.linspace(0.1, 9.7, 40)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r'continuous values.*regression.*TSRegression'): load_dataset(path)


def test_label_subset_refuses_missing_labels_rather_than_dropping_them():
    from tsai_timemae.data import label_subset
    y = np.array([0., 1., np.nan, 0., 1., 1.])
    with pytest.raises(ValueError, match=r'label_subset: 1 of the 6 labels are missing.*positions \[2\]'): label_subset(y, 1., 0)
    with pytest.raises(ValueError, match='at least one label'): label_subset(np.array([]), 0.5, 0)
    assert label_subset(np.array(['a', 'b', 'a', 'b']), 1., 0).tolist() == [0, 1, 2, 3]


def test_label_subset_refuses_one_hot_labels_whose_flattened_indices_run_past_the_series():
    from tsai_timemae.data import label_subset
    one_hot = np.eye(3)[np.arange(15) % 3]
    with pytest.raises(ValueError, match=r'one label per series, a 1-D array; got shape \(15, 3\).*y.argmax\(1\)'):
        label_subset(one_hot, 0.2, 0)
    with pytest.raises(ValueError, match=r'got shape \(15, 1\): pass y.ravel\(\)'):   # argmax(1) would give one class
        label_subset((np.arange(15) % 3)[:, None], 0.2, 0)


def test_a_training_set_of_one_class_is_refused_when_loaded(tmp_path):
    "Before any pretraining: scikit-learn's own 'needs samples of at least 2 classes' came only after it."
    rng = np.random.default_rng(0)
    path = tmp_path / 'one.npz'
    np.savez(path, X_train=rng.normal(size=(20, 2, 30)).astype('float32'), y_train=np.array(['a'] * 20),
             X_test=rng.normal(size=(5, 2, 30)).astype('float32'), y_test=np.array(['a'] * 5))
    with pytest.raises(ValueError, match=r"training labels hold one class \('a'\).*two or more"):
        load_dataset(path)
    np.savez(path, X_train=np.zeros((0, 2, 30), 'float32'), y_train=np.array([], dtype='<U1'),
             X_test=rng.normal(size=(5, 2, 30)).astype('float32'), y_test=np.array(['a'] * 5))
    with pytest.raises(ValueError, match='the training split holds no series'): load_dataset(path)


def test_a_folder_of_several_ts_data_sets_is_not_read_as_the_first_one(tmp_path):
    "A_TRAIN.ts and B_TRAIN.ts in one folder, none named after it: A was taken silently."
    import glob, os, shutil, sktime
    src = glob.glob(os.path.join(os.path.dirname(sktime.__file__), 'datasets', 'data', 'BasicMotions', 'BasicMotions_T*.ts'))
    for name in ('A', 'B'):
        for f in src: shutil.copy(f, tmp_path / os.path.basename(f).replace('BasicMotions', name))
    with pytest.raises(ValueError, match=r'several training files \(A_TRAIN\.ts, B_TRAIN\.ts\) and none named after the folder'):
        load_dataset(tmp_path)
    for f in src: shutil.copy(f, tmp_path / os.path.basename(f).replace('BasicMotions', tmp_path.name))
    assert load_dataset(tmp_path).X_train.shape[1:] == (6, 100)          # the folder's own name decides


def test_a_ts_label_its_header_does_not_declare_is_refused(tmp_path):
    """A series labelled `c` in a file whose header declares `a b` is a typo or a foreign header: refused by name,
    before any split or training; case and number format alone (`Standing` / `standing`, `1` / `1.0`) are accepted, as
    the archive's own files need (BasicMotions declares `Standing`, its series say `standing`)."""
    head = ('@problemName Odd\n@timeStamps false\n@missing false\n@univariate true\n@equalLength true\n'
            '@seriesLength 3\n@classLabel true {}\n@data\n')
    d = tmp_path / 'Odd'
    d.mkdir()
    (d / 'Odd_TEST.ts').write_text(head.format('a b') + '1,2,3:a\n2,3,4:b\n')
    (d / 'Odd_TRAIN.ts').write_text(head.format('a b') + ''.join(f'{i},2,3:{c}\n' for i, c in enumerate('abababc')))
    with pytest.raises(ValueError, match=r"Odd_TRAIN.ts has labels its header does not declare: \['c'\] \(@classLabel true a b\)"):
        load_dataset(d)
    (d / 'Odd_TRAIN.ts').write_text(head.format('A 1') + ''.join(f'{i},2,3:{c}\n' for i, c in enumerate(['a', '1.0'] * 4)))
    (d / 'Odd_TEST.ts').write_text(head.format('A 1') + '1,2,3:a\n2,3,4:1\n')
    assert sorted(set(load_dataset(d).y_train)) == ['1.0', 'a']
    assert sorted(set(load_dataset(d).y_test)) == ['1.0', 'a']   # the test file's '1' is the training files' '1.0'


def test_one_class_written_two_ways_across_the_splits_is_one_class(tmp_path):
    "Train '1', '2' and test '1.0', '2.0' were four classes: no test series could ever be predicted right."
    head = ('@problemName Two\n@timeStamps false\n@missing false\n@univariate true\n@equalLength true\n@seriesLength 3\n'
            '@classLabel true 1 2\n@data\n')
    d = tmp_path / 'Two'
    d.mkdir()
    (d / 'Two_TRAIN.ts').write_text(head + ''.join(f'{i},2,3:{c}\n' for i, c in enumerate('12' * 5)))
    (d / 'Two_TEST.ts').write_text(head + '1,2,3:1.0\n2,3,4:2.0\n')
    ds = load_dataset(d)
    assert ds.n_classes == 2 and list(ds.y_test) == ['1', '2'] and set(ds.y_train) | set(ds.y_valid) == {'1', '2'}
    np.savez(tmp_path / 'text.npz', X_train=np.random.rand(8, 1, 4).astype('float32'), y_train=np.array(['0', '1'] * 4),
             X_test=np.random.rand(2, 1, 4).astype('float32'), y_test=np.array(['0.0', '1.0']))
    assert list(load_dataset(tmp_path / 'text.npz').y_test) == ['0', '1']
    from tsai_timemae.evaluate import comparable_labels
    y, pred = comparable_labels(['1.0', '2.0'], ['1', '2'])         # and a scorer compares them as the same class
    assert (y == pred).all()


def test_the_validation_series_do_not_depend_on_how_the_test_labels_are_written(tmp_path):
    """Number labels in training and text in test turned the training labels into text before the validation split
    was drawn: '10' < '20' < '5' reordered the classes, and the same seed drew other series than the probe (which
    reads no test labels) or the same file with number test labels did."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 1, 8)).astype('float32'), np.array([5, 10, 20] * 20)
    X[:, 0, 0] = np.arange(60)  # each series' number
    for name, y_test in (('num', np.array([5, 10])), ('text', np.array(['5', '10']))):
        np.savez(tmp_path / f'{name}.npz', X_train=X, y_train=y, X_test=X[:2], y_test=y_test)
    loads = [load_dataset(tmp_path / 'num.npz'), load_dataset(tmp_path / 'text.npz'),
             load_dataset(tmp_path / 'text.npz', require_test=False)]
    ids = [sorted(d.X_valid[:, 0, 0].astype(int).tolist()) for d in loads]
    assert ids[0] == ids[1] == ids[2], ids
    assert loads[1].y_train.dtype.kind == 'U' and sorted(set(loads[1].y_valid)) == ['10', '20', '5']  # still unified


def test_float64_series_on_a_large_offset_warn_that_float32_loses_them(tmp_path):
    "Latitudes of 48.137 degrees moving by metres lost most of their variation in float32, and nothing was said."
    rng = np.random.default_rng(0)
    X = 48.137 + 1e-5 * rng.normal(size=(20, 2, 64)).cumsum(-1)
    X[:, 1] = rng.normal(size=(20, 64))  # an ordinary channel: kept
    np.savez(tmp_path / 'gps.npz', X_train=X, y_train=np.arange(20) % 2, X_test=X[:4], y_test=np.arange(4) % 2)
    with pytest.warns(UserWarning, match=r'1 of 2 channels lose their variation when converted to float32.*channel 0.*'
                                         r'X - X.mean\(axis=\(0, 2\), keepdims=True\)'):
        load_dataset(tmp_path / 'gps.npz')
    np.savez(tmp_path / 'ok.npz', X_train=X - X.mean(axis=(0, 2), keepdims=True), y_train=np.arange(20) % 2,
             X_test=X[:4] - X.mean(axis=(0, 2), keepdims=True) + 1, y_test=np.arange(4) % 2)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        load_dataset(tmp_path / 'ok.npz')
        flat = X.copy()  # a channel flat within each series, passed through float64 arithmetic: round-off, no signal
        flat[:, 0] = np.arange(20)[:, None] * 0.1 + 0.58366 + np.linspace(0, 1e-15, 64)  # e.g. a filter's leftovers
        np.savez(tmp_path / 'flat.npz', X_train=flat, y_train=np.arange(20) % 2, X_test=flat[:4] + 1, y_test=np.arange(4) % 2)
        load_dataset(tmp_path / 'flat.npz')


def test_ts_files_each_of_one_length_but_not_the_same_warn_that_one_is_padded(tmp_path):
    "Train at 3 steps and test at 5, each file of one length: the training series were padded with zeros without a word."
    head = lambda n: ('@problemName Two\n@timeStamps false\n@missing false\n@univariate true\n@equalLength true\n'
                      f'@seriesLength {n}\n@classLabel true a b\n@data\n')
    d = tmp_path / 'Two'
    d.mkdir()
    (d / 'Two_TRAIN.ts').write_text(head(3) + ''.join(f'{i},2,3:{c}\n' for i, c in enumerate('ab' * 5)))
    (d / 'Two_TEST.ts').write_text(head(5) + '1,2,3,4,5:a\n2,3,4,5,6:b\n')
    for kw in ({}, {'require_test': False}):
        with pytest.warns(UserWarning, match=r'Two_TRAIN.ts holds series of 3 steps and Two_TEST.ts of 5: the series of '
                                             r'Two_TRAIN.ts are padded at the end with 0 to 5 steps'):
            assert load_dataset(d, **kw).X_train.shape[-1] == 5


def test_test_series_copied_from_training_are_warned_about(tmp_path):
    "`X_test = X_train[:10]` loaded without a word, and every score of it measured memory."
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 1, 8)).astype('float32'), np.arange(20) % 2
    np.savez(tmp_path / 'copy.npz', X_train=X, y_train=y, X_test=X[:6], y_test=y[:6])
    with pytest.warns(UserWarning, match=r'6 of the 6 test series are exact copies of training or validation series'):
        load_dataset(tmp_path / 'copy.npz')
    np.savez(tmp_path / 'new.npz', X_train=X, y_train=y, X_test=X[:6] + 1, y_test=y[:6], class_names=np.array(['a', 'b']))
    bits = rng.integers(0, 2, size=(200, 1, 6)).astype('float32')  # short binary series repeat by nature
    np.savez(tmp_path / 'bits.npz', X_train=bits[:150], y_train=np.arange(150) % 2, X_test=bits[150:], y_test=np.arange(50) % 2)
    twice = np.concatenate([X[:10], X[:10]])  # repeated training series, and no validation split in the file: none blamed
    np.savez(tmp_path / 'twice.npz', X_train=twice, y_train=np.arange(20) % 2, X_test=X[10:14] + 1, y_test=y[:4])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        for f in ('new', 'bits', 'twice'): load_dataset(tmp_path / f'{f}.npz')  # (class_names: the user's own array)


def test_numpy_files_name_what_they_did_not_read_and_how_to_save_them(tmp_path, monkeypatch):
    """A validation split as X_validation was ignored (one carved from train instead); pandas text labels (object
    arrays) got the advice X.astype("float32"); univariate series saved [steps, series] were "labels of shape (20,)";
    GPS.npz here was "not found" by the name GPS, and GPS.NPZ was "a file"; a TS-TCC folder without test.pt named no way on."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 1, 8)).astype('float32'), np.arange(20) % 2
    np.savez(tmp_path / 'v.npz', X_train=X, y_train=y, X_test=X[:4], y_test=y[:4], X_validation=X[:4], y_validation=y[:4])
    with pytest.warns(UserWarning, match=r'the arrays X_validation, y_validation are not read.*X_valid.*Rename them'):
        assert 'stratified' in load_dataset(tmp_path / 'v.npz').valid_from
    np.savez(tmp_path / 'obj.npz', X_train=X, y_train=y.astype(object), X_test=X[:4], y_test=y[:4].astype(object))
    with pytest.raises(ValueError, match=r'object arrays \(y_train, y_test\).*for the labels \(y_train, y_test\), y.astype\(str\)'):
        load_dataset(tmp_path / 'obj.npz')
    np.savez(tmp_path / 'T.npz', X_train=X[:, 0].T, y_train=y, X_test=X[:4, 0].T, y_test=y[:4])
    with pytest.raises(ValueError, match=r"as many as X's axis 2 \(20\).*save X.T for univariate series stored \[steps, series\]"):
        load_dataset(tmp_path / 'T.npz')
    monkeypatch.chdir(tmp_path)
    np.savez('GPS', X_train=X, y_train=y, X_test=X[:4], y_test=y[:4])
    with pytest.raises(FileNotFoundError, match=r"Did you mean './GPS.npz'"): load_dataset('GPS', root=tmp_path / 'empty')  \
        if (tmp_path / 'empty').mkdir() is None else None
    (tmp_path / 'GPS.npz').rename(tmp_path / 'UP.NPZ')
    assert load_dataset('UP.NPZ').n_classes == 2
    _tstcc(tmp_path / 'tc')
    (tmp_path / 'tc' / 'test.pt').unlink()
    with pytest.raises(FileNotFoundError, match=r'No TS-TCC split file at .*test.pt.*timemae probe'): load_dataset(tmp_path / 'tc')


@pytest.mark.parametrize('train, test', [(['a', 'A', 'b', 'B'], ['a', 'A']),          # case is a class's own
                                         (['01', '1', '2', '3'], ['1', '2']),          # two spellings in one split
                                         (['12345678901234567', '12345678901234568'], ['12345678901234567'])])
def test_labels_that_only_look_alike_stay_apart(train, test):
    "Case folding and float keys merged distinct classes ('a'/'A', '01'/'1', 17-digit identifiers), even within a split."
    from tsai_timemae.data import unify_label_spellings
    from tsai_timemae.evaluate import comparable_labels
    tr, te = unify_label_spellings(np.array(train * 3), np.array(test))
    assert list(tr) == train * 3 and list(te) == test
    y, pred = comparable_labels(np.array(train), np.array(train[::-1]))
    assert (y == pred).sum() == sum(a == b for a, b in zip(train, train[::-1]))
    assert (comparable_labels(['nan', 'a'], ['nan', 'a'])[0] == ['nan', 'a']).all()


def test_byte_and_long_number_labels_and_plain_digits():
    "Bytes were parsed as \"b'1'\" (no number), 29-digit identifiers rounded together, and '10' came back as '1E+1'."
    from tsai_timemae.data import unify_label_spellings
    from tsai_timemae.evaluate import comparable_labels
    assert list(unify_label_spellings(np.array([b'1', b'2'] * 2), np.array([b'1.0', b'2.0']))[1]) == [b'1', b'2']
    long = ['12345678901234567890123456789', '12345678901234567890123456788']
    assert list(unify_label_spellings(np.array(long * 2), np.array(long[:1]))[1]) == long[:1]
    y, pred = comparable_labels(long, long[::-1])
    assert not (y == pred).any()
    y, pred = comparable_labels(['10', '100'], [10, 100])
    assert list(y) == ['10', '100'] and (y == pred).all()


@pytest.mark.parametrize('flag, message', [('@targetLabel true', r'regression data set \(@targetLabel true\).*TSRegression'),
                                           ('@classLabel false', r'holds no class labels \(@classLabel false\).*get_ts_dls\(X\)')])
def test_ts_files_without_classes_are_refused_by_what_their_header_says(tmp_path, flag, message):
    "Regression targets are text to sktime (never caught as continuous); an unlabelled file failed to unpack."
    d = tmp_path / 'NoClass'
    d.mkdir()
    rows = ''.join(f'{i},2,3' + (':5.25\n' if 'target' in flag else '\n') for i in range(6))
    for split in ('TRAIN', 'TEST'):
        (d / f'NoClass_{split}.ts').write_text(f'@problemName NoClass\n@timeStamps false\n@missing false\n@univariate true\n'
                                               f'@equalLength true\n@seriesLength 3\n{flag}\n@data\n' + rows)
    with pytest.raises(ValueError, match=message): load_dataset(d)


def test_a_misspelt_name_gets_the_closest_data_sets_and_an_empty_split_file_is_named(tmp_path):
    "A typo listed only the folders searched; an empty train.pt gave IndexError from inside the error's own message."
    har = tmp_path / 'HAR'
    har.mkdir()
    for s in ('train', 'val', 'test'): torch.save({'samples': torch.zeros(4, 1, 8), 'labels': torch.zeros(4)}, har / f'{s}.pt')
    (tmp_path / 'UEA' / 'ECG200').mkdir(parents=True)
    for s in ('TRAIN', 'TEST'): (tmp_path / 'UEA' / 'ECG200' / f'ECG200_{s}.ts').write_text('')
    for typo, meant in (('HARR', 'HAR'), ('har', 'HAR'), ('ECG20', 'ECG200')):
        with pytest.raises(FileNotFoundError, match=f"Did you mean '{meant}'.*Data sets in the data folders: HAR, ECG200"):
            find_dataset(typo, root=tmp_path)
    (har / 'train.pt').write_bytes(b'')
    with pytest.raises(ValueError, match=r'Could not read .*train\.pt as a TS-TCC split .*EOFError, e.g. an empty file'):
        load_dataset(str(har))


def test_a_misspelt_name_with_a_slash_gets_the_data_set_it_is_close_to(tmp_path, monkeypatch):
    "`UEA/Epilepsi` took the path branch ('Check the path for a typo') and never named UEA/Epilepsy."
    monkeypatch.chdir(tmp_path)
    root = tmp_path / 'data'
    (root / 'Epilepsy').mkdir(parents=True)
    for s in ('train', 'val', 'test'):
        torch.save({'samples': torch.zeros(4, 1, 8), 'labels': torch.zeros(4)}, root / 'Epilepsy' / f'{s}.pt')
    (root / 'UEA' / 'Epilepsy').mkdir(parents=True)
    for s in ('TRAIN', 'TEST'): (root / 'UEA' / 'Epilepsy' / f'Epilepsy_{s}.ts').write_text('')
    with pytest.raises(FileNotFoundError, match="No such file or folder: UEA/Epilepsi .*Did you mean the data set 'UEA/Epilepsy'"):
        find_dataset('UEA/Epilepsi', root=root)
    with pytest.raises(FileNotFoundError, match='Check the path for a typo'):
        find_dataset('data/Gest', root=root)
    (root / 'UEA' / 'GunPoint').mkdir()                                    # under UEA/ only: listed as plain GunPoint
    for s in ('TRAIN', 'TEST'): (root / 'UEA' / 'GunPoint' / f'GunPoint_{s}.ts').write_text('')
    with pytest.raises(FileNotFoundError, match="Did you mean the data set 'UEA/GunPoint'"):
        find_dataset('UEA/GunPoin', root=root)


def test_a_folder_that_cannot_be_read_does_not_hide_the_not_found_message(tmp_path, monkeypatch):
    "`lost+found` on a data disk raised PermissionError from the list of data sets that the message gives."
    import tsai_timemae.data as D
    (tmp_path / 'HAR').mkdir()
    torch.save({'samples': torch.zeros(4, 1, 8), 'labels': torch.zeros(4)}, tmp_path / 'HAR' / 'train.pt')
    (tmp_path / 'lost+found').mkdir()
    real = D._format_of
    def guarded(folder, name):
        if folder.name == 'lost+found': raise PermissionError(13, 'Permission denied', str(folder / 'train.pt'))
        return real(folder, name)
    monkeypatch.setattr(D, '_format_of', guarded)
    with pytest.raises(FileNotFoundError, match="Did you mean 'HAR'"):
        find_dataset('HARR', root=tmp_path)


@pytest.mark.parametrize('cut', [1, 30, 200])
def test_an_old_format_split_file_cut_short_is_named(tmp_path, cut):
    "torch's pre-zip format cut short raised a bare struct.error or IndexError."
    full = tmp_path / 'full.pt'
    torch.save({'samples': torch.zeros(4, 1, 8), 'labels': torch.zeros(4)}, full, _use_new_zipfile_serialization=False)
    from tsai_timemae.data import read_tstcc_pt
    bad = tmp_path / 'train.pt'
    bad.write_bytes(full.read_bytes()[:cut])
    with pytest.raises(ValueError, match=r'Could not read .*train\.pt as a TS-TCC split'):
        read_tstcc_pt(bad)


def test_an_npz_whose_test_split_is_empty_is_refused_where_a_test_split_is_needed(tmp_path):
    "It loaded, and a benchmark trained before it failed at scoring."
    p = tmp_path / 'd.npz'
    np.savez(p, X_train=np.zeros((4, 1, 8), np.float32), y_train=np.array([0, 1, 0, 1]),
             X_test=np.zeros((0, 1, 8), np.float32), y_test=np.zeros(0, int))
    with pytest.raises(ValueError, match=r'test split \(X_test\) holds no series.*timemae probe'):
        load_dataset(str(p))


def test_without_require_test_the_test_files_are_not_read(tmp_path):
    """The probe never reads a test split: an unlabelled test split (competition data) failed with a KeyError (.npz)
    or 'holds no class labels' (.ts) before; a .ts test file's lengths still pad a variable-length set as before."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 2, 12)).astype('float32'), np.arange(20) % 2
    np.savez(tmp_path / 'nolab.npz', X_train=X, y_train=y, X_test=X[:4])
    ds = load_dataset(tmp_path / 'nolab.npz', require_test=False)
    assert ds.X_test.shape == (0, 2, 12) and len(ds.X_train) + len(ds.X_valid) == 20
    with pytest.raises(ValueError, match='lacks'):                          # the benchmark still needs test labels
        load_dataset(tmp_path / 'nolab.npz')
    d = tmp_path / 'Var'
    d.mkdir()
    head = '@problemName Var\n@timeStamps false\n@missing false\n@univariate true\n@equalLength false\n'
    (d / 'Var_TRAIN.ts').write_text(head + '@classLabel true a b\n@data\n'
                                    + ''.join(f'{",".join(["1.0"] * (5 + i % 3))}:{"ab"[i % 2]}\n' for i in range(10)))
    (d / 'Var_TEST.ts').write_text(head + '@classLabel false\n@data\n' + '1.0,2.0,3.0,4.0,5.0,6.0,7.0,8.0,9.0\n1.0,2.0\n')
    ds = load_dataset(d, require_test=False)
    assert ds.X_train.shape[1:] == (1, 9) and len(ds.X_test) == 0        # padded to the test file's longest series
    assert ds.info == {'variable_length': True, 'min_length': 2, 'max_length': 9, 'padding': 'end, value 0.0'}


def test_numeric_labels_in_one_split_and_text_in_another_are_one_class_each(tmp_path):
    "Training 0.0/1.0 and validation '0'/'1' made four classes, and tsai encoded every validation series as the first."
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 1, 8)).astype('float32')
    np.savez(tmp_path / 'kinds.npz', X_train=X, y_train=np.array([0., 1.] * 10), X_valid=X[:6], y_valid=np.array(['0', '1'] * 3),
             X_test=X[:6], y_test=np.array(['0', '1'] * 3))
    ds = load_dataset(tmp_path / 'kinds.npz')
    assert ds.n_classes == 2 and set(ds.y_valid.tolist()) <= set(ds.y_train.tolist()) and list(ds.y_test[:2]) == list(ds.y_train[:2])


def test_validation_labels_of_a_class_training_lacks_are_refused():
    "tsai's TSClassification encodes them as the first class without a word: the validation loss counted them as that."
    from tsai_timemae.model import TimeMAE  # first, as a user's imports: it makes tsai's ts_learner know TimeMAE
    from tsai.data.core import TSClassification, get_ts_dls
    from tsai.learner import ts_learner
    X = np.random.default_rng(0).normal(size=(26, 1, 16)).astype('float32')
    splits = (list(range(20)), list(range(20, 26)))
    for y, named in ((np.array(['a', 'b'] * 10 + ['a', 'b', 'c'] * 2), r"2 of the 6 validation labels .*\('c'; the training classes are \['a', 'b'\]\)"),
                     (np.array([0., 1.] * 10 + ['0', '1'] * 3, dtype=object), r"6 of the 6 validation labels .*\('0', '1';")):
        dls = get_ts_dls(X, y, splits=splits, tfms=[None, TSClassification()], bs=4)
        with pytest.raises(ValueError, match=named + r'.*encode them as the first class'):
            ts_learner(dls, TimeMAE, window=4, n_layers=1, d_model=16, d_ff=32, n_heads=2)
    # numbers beside text: the vocabulary holds text, and the numbers match it in no split (training's 1 became '0')
    mixed = np.array([0, 1, 'a', 'b'] * 5 + [0, 1, 'a'] * 2, dtype=object)
    for s in (splits, (list(range(26)), [])):
        with pytest.raises(ValueError, match=r"of the (20|26) training labels \(0, 1\) match no entry of the label vocabulary "
                                             r"\(\['0', '1', 'a', 'b'\]\): the labels mix types.*y.astype\(str\)"):
            ts_learner(get_ts_dls(X, mixed, splits=s, tfms=[None, TSClassification()], bs=4), TimeMAE, window=4,
                       n_layers=1, d_model=16, d_ff=32, n_heads=2)
    column = np.array(['a', 'b'] * 10 + ['a', 'b', 'c'] * 2)[:, None]  # labels of shape [n, 1], which tsai takes
    with pytest.raises(ValueError, match=r"2 of the 6 validation labels belong to classes no training series has \('c'"):
        ts_learner(get_ts_dls(X, column, splits=splits, tfms=[None, TSClassification()], bs=4), TimeMAE, window=4,
                   n_layers=1, d_model=16, d_ff=32, n_heads=2)
    dls = get_ts_dls(X, np.arange(26) % 2, splits=splits, tfms=[None, TSClassification()], bs=4)
    assert ts_learner(dls, TimeMAE, window=4, n_layers=1, d_model=16, d_ff=32, n_heads=2).dls.c == 2
    # pretraining never reads the labels: the same DataLoaders pretrain (the README: "labels, if the dls has any, are
    # ignored"); refused over a validation class before, and the refusal stays for the classifier built after it
    from tsai_timemae.pretrain import TimeMAEPretrain
    dls = get_ts_dls(X, np.array(['a', 'b'] * 10 + ['a', 'b', 'c'] * 2), splits=splits, tfms=[None, TSClassification()], bs=4)
    for cb in (TimeMAEPretrain(vocab_size=4, n_decoder_layers=1, save_best=False, verbose=False), TimeMAEPretrain):
        learn = ts_learner(dls, TimeMAE, cbs=cb, window=4, n_layers=1, d_model=16, d_ff=32, n_heads=2)
        if cb is not TimeMAEPretrain:
            with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
            assert np.isfinite(cb.history[-1]['valid_loss'])
    with pytest.raises(ValueError, match=r"2 of the 6 validation labels belong to classes no training series has.*"
                                         r"To pretrain on these series instead.*cbs=TimeMAEPretrain\(\)"):
        ts_learner(dls, TimeMAE, window=4, n_layers=1, d_model=16, d_ff=32, n_heads=2)
    # callbacks given as a generator are read once and passed on (the first version of this check dropped them)
    learn = ts_learner(dls, TimeMAE, cbs=(cb for cb in [TimeMAEPretrain(save_best=False)]), window=4, n_layers=1, d_model=16, d_ff=32, n_heads=2)
    assert any(isinstance(cb, TimeMAEPretrain) for cb in learn.cbs)


def test_a_split_file_of_numpy_arrays_loads_and_an_unreadable_one_names_torchs_reason(tmp_path):
    """`torch.save` of numpy arrays (a common TS-TCC variant) was refused with the first line of torch's message ("two
    options", listing none, in terminal colours); its arrays are read now, and an object array is still refused."""
    from tsai_timemae.data import read_tstcc_pt
    torch.save({'samples': np.ones((6, 1, 10), dtype='float64'), 'labels': np.arange(6) % 2}, tmp_path / 'np.pt')
    X, y = read_tstcc_pt(tmp_path / 'np.pt')
    assert X.dtype == np.float32 and X.shape == (6, 1, 10) and y.tolist() == [0, 1] * 3
    torch.save({'samples': np.array([object(), 1], dtype=object), 'labels': np.arange(2)}, tmp_path / 'obj.pt')
    with pytest.raises(ValueError) as e: read_tstcc_pt(tmp_path / 'obj.pt')
    msg = str(e.value)
    assert 'WeightsUnpickler error: Unsupported global' in msg and '\x1b' not in msg and 'two options' not in msg
    assert "re-save it as torch.save({'samples': tensor, 'labels': tensor}, path)" in msg


def test_recording_groups_refuse_an_overlap_that_is_not_a_whole_number():
    "int() cut overlap=0.5 to 0 (then named as 0) and 1.9 to 1 without a word."
    from tsai_timemae.data import recording_groups
    X = np.zeros((4, 1, 8), dtype='float32')
    for bad in (0.5, 1.9, True):
        with pytest.raises(ValueError, match=rf'a whole number between 1 and 7 for 8-step windows; got {bad!r}\. overlap=None takes half'):
            recording_groups(X, overlap=bad)
    assert len(recording_groups(X, overlap=np.int64(4))) == 4
