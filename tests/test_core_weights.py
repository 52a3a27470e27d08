"""Encoder weights: atomic saving, strict loading, clear errors for missing, corrupt or mismatched files."""
import os

import pytest
import torch
from tsai.all import ts_learner

from tsai_timemae.all import (TimeMAE, encoder_config, load_encoder_weights, read_encoder_weights,
                              save_encoder_weights)
from tsai_timemae import weights as W
from conftest import SMALL, assert_same_state


def _enc(m): return {k: v for k, v in m.state_dict().items() if k.startswith('backbone.')}


def test_save_writes_only_the_encoder_as_a_plain_state_dict_and_reloads_exactly(tmp_path):
    m = TimeMAE(6, 4, **SMALL)
    path = save_encoder_weights(m, tmp_path / 'enc.pth')
    sd = torch.load(path, weights_only=True)
    assert all(k.startswith('backbone.') for k in sd) and len(sd) == len(_enc(m))
    m2 = load_encoder_weights(TimeMAE(6, 4, **SMALL), path)
    assert_same_state(_enc(m2), _enc(m))
    assert encoder_config(sd) == dict(d_model=32, c_in=6, window=10, max_seq_len=8200, n_layers=2, d_ff=64)


def test_a_failed_save_leaves_the_old_file_untouched_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / 'enc.pth'
    save_encoder_weights(TimeMAE(6, 4, **SMALL), path)
    before = path.read_bytes()
    def broken_save(obj, f):
        f.write(b'half a file'); raise OSError('disk full')
    monkeypatch.setattr(W.torch, 'save', broken_save)
    with pytest.raises(OSError, match='disk full'):
        save_encoder_weights(TimeMAE(6, 4, **SMALL), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ['enc.pth']


def test_missing_corrupt_and_unsafe_files_are_clear_errors(tmp_path):
    m = TimeMAE(6, 4, **SMALL)
    with pytest.raises(FileNotFoundError, match='No weights file at .*nope.pth'):
        load_encoder_weights(m, tmp_path / 'nope.pth')
    bad = tmp_path / 'bad.pth'; bad.write_bytes(b'\x00garbage' * 100)
    with pytest.raises(ValueError, match='corrupt'):
        load_encoder_weights(m, bad)
    class Evil:
        def __reduce__(self): return (os.system, ('echo pwned',))
    evil = tmp_path / 'evil.pth'
    torch.save({'backbone.x': Evil()}, evil, pickle_protocol=2)
    with pytest.raises(ValueError, match='corrupt or not a torch state_dict'):
        read_encoder_weights(evil)
    torch.save({'other.weight': torch.zeros(2)}, tmp_path / 'other.pth')
    with pytest.raises(ValueError, match='no TimeMAE encoder'):
        read_encoder_weights(tmp_path / 'other.pth')


@pytest.mark.parametrize('change, field', [(dict(c_in=3), 'c_in=3'), (dict(window=5), 'window=5'),
                                           (dict(d_model=16, n_heads=2), 'd_model=16'), (dict(n_layers=3), 'n_layers=3')])
def test_mismatched_weights_name_both_shapes_and_never_load_partially(tmp_path, change, field):
    path = save_encoder_weights(TimeMAE(6, 4, **SMALL), tmp_path / 'enc.pth')
    kw = {**SMALL, 'c_in': 6, **change}
    c_in = kw.pop('c_in')
    target = TimeMAE(c_in, 4, **kw)
    before = {k: v.clone() for k, v in _enc(target).items()}
    with pytest.raises(ValueError) as e:
        load_encoder_weights(target, path)
    msg = str(e.value)
    assert 'does not fit' in msg and 'Weights were saved from: c_in=6, window=10, d_model=32, n_layers=2' in msg
    assert field in msg.split('This model has:')[1]
    if change.get('n_layers') is None: assert ' vs model ' in msg       # the differing shapes, side by side
    assert_same_state(_enc(target), before)                             # nothing was loaded


def test_ts_learner_pretrained_loads_strictly(udls, tmp_path):
    path = save_encoder_weights(TimeMAE(6, 4, **SMALL), tmp_path / 'enc.pth')
    learn = ts_learner(udls, TimeMAE, pretrained=True, weights_path=path, **SMALL)
    assert_same_state(_enc(learn.model), read_encoder_weights(path))
    with pytest.raises(ValueError, match='does not fit'):
        ts_learner(udls, TimeMAE, pretrained=True, weights_path=path, **{**SMALL, 'window': 5})
