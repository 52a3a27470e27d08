"""Encoder weights: atomic saving, strict loading, clear errors for missing, corrupt or mismatched files."""
import os
from pathlib import Path

import pytest
import torch
from tsai.all import ts_learner

from tsai_timemae.all import (TimeMAE, encoder_config, fineall_learner, finelast_learner, load_encoder_weights,
                              read_encoder_file, read_encoder_weights, save_encoder_weights, timemae_learner)
from tsai_timemae import weights as W
from tsai_timemae.notices import TimeMAEWarning
from conftest import SMALL, assert_same_state


def _enc(m): return {k: v for k, v in m.state_dict().items() if k.startswith('backbone.')}


def test_save_writes_only_the_encoder_beside_its_settings_and_reloads_exactly(tmp_path):
    m = TimeMAE(6, 4, **SMALL)
    path = save_encoder_weights(m, tmp_path / 'enc.pth')
    raw = torch.load(path, weights_only=True)                          # plain data, no code runs
    assert set(raw) == {'format', 'timemae_config', 'state_dict'} and raw['format'] == 2
    assert raw['timemae_config'] == m.backbone.config and raw['timemae_config']['n_heads'] == 2
    sd = raw['state_dict']
    assert all(k.startswith('backbone.') for k in sd) and len(sd) == len(_enc(m))
    assert_same_state(read_encoder_weights(path), sd)
    m2 = load_encoder_weights(TimeMAE(6, 4, **SMALL), path)
    assert_same_state(_enc(m2), _enc(m))
    m3 = load_encoder_weights(TimeMAE(6, 3, **SMALL), m.state_dict())      # a whole model's state_dict: its encoder
    assert_same_state(_enc(m3), _enc(m))
    assert encoder_config(sd) == dict(d_model=32, c_in=6, window=10, max_seq_len=8200, n_layers=2, d_ff=64)  # shapes
    assert encoder_config(sd, raw['timemae_config']) == {**encoder_config(sd), 'max_seq_len': 8192, 'n_heads': 2,
                                                         'pre_norm': False, 'residual_gain': False, 'dropout': 0.2,
                                                         'attn_dropout': None, 'ff_dropout': 'hidden', 'init_scheme': 'torch'}


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
    save_encoder_weights(m, tmp_path / 'ckpt.pth')                # a fastai user names it as for learn.save/learn.load
    with pytest.raises(FileNotFoundError, match=r"ckpt.pth is beside it .*pass '.*ckpt.pth'"):
        load_encoder_weights(m, tmp_path / 'ckpt')
    with pytest.raises(FileNotFoundError, match=r"No weights file: the path is empty \(''\)"): TimeMAE.from_pretrained('')
    with pytest.raises(IsADirectoryError, match='is a folder, not a weights file'): TimeMAE.from_pretrained('.')
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


# -- the architecture travels with the weights (format 2) ---------------------------------------------------------
ODD = dict(window=10, d_model=32, n_layers=2, n_heads=2, d_ff=48, pre_norm=True, dropout=0.3, attn_dropout=0.,
           ff_dropout='output_twice')   # nothing a tensor shape shows but d_ff: 2 heads, pre-norm, other dropouts


def _embed(model, x):
    model.eval()
    with torch.no_grad(): return model.backbone(x)


@pytest.fixture
def odd(tmp_path):
    torch.manual_seed(0)
    m = TimeMAE(6, None, **ODD)
    return m, save_encoder_weights(m, tmp_path / 'odd.pth')


def test_every_reader_rebuilds_a_two_head_pre_norm_encoder_exactly(dls, udls, odd, basic_motions):
    m, path = odd
    x = torch.as_tensor(basic_motions[0][:8])
    want = _embed(m, x)
    assert not torch.allclose(want, _embed(load_encoder_weights(TimeMAE(6, None, **{**ODD, 'n_heads': 4, 'pre_norm': False}),
                                                                {'backbone.' + k: v for k, v in m.backbone.state_dict().items()}), x))
    built = {'finelast': finelast_learner(dls, path).model, 'fineall': fineall_learner(dls, path).model,
             'timemae_learner': timemae_learner(dls, path).model,
             'ts_learner': ts_learner(udls, TimeMAE, pretrained=True, weights_path=path).model,
             'from_pretrained': TimeMAE.from_pretrained(path, c_out=4)}
    for name, model in built.items():
        cfg = model.backbone.config
        assert {k: cfg[k] for k in ODD} == ODD, name                      # dropout settings too: the file's
        torch.testing.assert_close(_embed(model, x), want, rtol=0, atol=0, msg=name)
    again = fineall_learner(dls, path, n_heads=2, pre_norm=True, d_ff=48).model   # repeating the file's settings is fine
    torch.testing.assert_close(_embed(again, x), want, rtol=0, atol=0)


def test_fine_tuning_may_change_what_only_training_uses(dls, odd):
    _, path = odd
    bb = fineall_learner(dls, path, dropout=0.1, attn_dropout=None, ff_dropout='hidden').model.backbone
    layer = bb.encoder.layers[0]
    assert (bb.config['dropout'], bb.config['attn_dropout'], bb.config['ff_dropout']) == (0.1, None, 'hidden')
    assert layer.dropout1.p == 0.1 and layer.self_attn.dropout == 0.1 and layer.dropout.p == 0.1


@pytest.mark.parametrize('kw, saved, asked', [(dict(n_heads=4), 'n_heads=2', 'n_heads=4'),
                                              (dict(pre_norm=False), 'pre_norm=True', 'pre_norm=False'),
                                              (dict(d_ff=64), 'd_ff=48', 'd_ff=64')])
def test_a_setting_that_contradicts_the_file_is_an_error_naming_both(dls, udls, odd, kw, saved, asked):
    _, path = odd
    for build in (lambda: finelast_learner(dls, path, **kw), lambda: fineall_learner(dls, path, **kw),
                  lambda: ts_learner(udls, TimeMAE, pretrained=True, weights_path=path, **kw),
                  lambda: TimeMAE.from_pretrained(path, **kw)):
        with pytest.raises(ValueError, match=rf'(?s)does not fit this model.*saved with {saved}.*{asked}.*Leave') as e:
            build()
        assert 'pretrain an encoder with' in str(e.value)


def test_loading_into_a_model_with_other_heads_or_norm_placement_is_an_error(odd):
    _, path = odd
    for change in (dict(n_heads=4), dict(pre_norm=False)):
        target = TimeMAE(6, 3, **{**ODD, **change})
        before = {k: v.clone() for k, v in _enc(target).items()}
        with pytest.raises(ValueError, match=r'does not fit this model: it was saved with (n_heads=2|pre_norm=True) and '
                                             r'this model has (n_heads=4|pre_norm=False)'):
            load_encoder_weights(target, path)
        assert_same_state(_enc(target), before)                        # nothing was loaded
    load_encoder_weights(TimeMAE(6, 3, **{**ODD, 'dropout': 0.}), path)  # dropout is free


def test_an_old_plain_state_dict_still_loads_as_before(dls, udls, tmp_path, basic_motions):
    "Files saved before the settings were stored: a bare state_dict, the architecture its shapes tell, n_heads given."
    torch.manual_seed(0)
    m = TimeMAE(6, None, **ODD)
    old = tmp_path / 'old.pth'
    torch.save({k: v for k, v in m.state_dict().items() if k.startswith('backbone.')}, old)   # what version 1 wrote
    sd, stored = read_encoder_file(old)
    assert stored is None and encoder_config(sd) == dict(d_model=32, c_in=6, window=10, max_seq_len=8200, n_layers=2, d_ff=48)
    x = torch.as_tensor(basic_motions[0][:8])
    want = _embed(m, x)
    for model in (finelast_learner(dls, old, n_heads=2, pre_norm=True).model,
                  fineall_learner(dls, old, n_heads=2, pre_norm=True).model,
                  ts_learner(udls, TimeMAE, pretrained=True, weights_path=old, **ODD).model,
                  load_encoder_weights(TimeMAE(6, 3, **ODD), old)):
        torch.testing.assert_close(_embed(model, x), want, rtol=0, atol=0)
    learn = fineall_learner(dls, old)                                  # as before: what shapes do not tell is the default
    assert learn.model.backbone.config['n_heads'] == 4 and learn.model.backbone.config['pre_norm'] is False
    with pytest.raises(ValueError, match='does not fit'):              # and ts_learner needs the architecture, as before
        ts_learner(udls, TimeMAE, pretrained=True, weights_path=old)


def test_a_pretraining_module_with_a_backbone_saves_its_settings(tmp_path):
    from tsai_timemae.model import TimeMAEBackbone
    class Pretrainer(torch.nn.Module):                                 # what the pretraining callback saves
        def __init__(self):
            super().__init__()
            self.backbone, self.decoder = TimeMAEBackbone(6, **ODD), torch.nn.Linear(32, 32)
    p = Pretrainer()
    sd, stored = read_encoder_file(save_encoder_weights(p, tmp_path / 'enc.pth'))
    assert stored == p.backbone.config and all(k.startswith('backbone.') for k in sd)
    assert_same_state(sd, {'backbone.' + k: v for k, v in p.backbone.state_dict().items()})


def test_settings_are_stored_as_plain_values_and_checked_against_the_tensors(tmp_path):
    import numpy as np
    path = save_encoder_weights(TimeMAE(np.int64(6), None, window=np.int64(10), **{k: v for k, v in SMALL.items() if k != 'window'}),
                                tmp_path / 'enc.pth')
    raw = torch.load(path, weights_only=True)                          # numpy ints would need unsafe unpickling
    assert type(raw['timemae_config']['c_in']) is int and type(raw['timemae_config']['window']) is int
    raw['timemae_config']['d_model'] = 64                              # a hand-edited file
    torch.save(raw, tmp_path / 'edited.pth')
    with pytest.raises(ValueError, match=r'inconsistent: its stored settings say d_model=64 but its tensors have d_model=32'):
        read_encoder_weights(tmp_path / 'edited.pth')
    torch.save({**raw, 'format': 3}, tmp_path / 'future.pth')
    with pytest.raises(ValueError, match='format 3, newer.*upgrade tsai_timemae'):
        read_encoder_weights(tmp_path / 'future.pth')


def test_stale_temporaries_of_this_machine_are_removed_and_other_machines_left_alone(tmp_path, monkeypatch):
    """A dead writer's temporary on this machine goes; on a shared file system another machine's writer is never taken
    for dead. One under this process's own id that this process is not writing is a dead writer's too: a restarted
    container runs under the killed process's id (1), and its whole-state temporaries were kept for ever."""
    from tsai_timemae import weights
    from tsai_timemae.weights import _host_tag, atomic_write
    dead = 999_999_999                                                    # no such process
    names = {'legacy': f'.w.pth.{dead}.abc123.tmp', 'here': f'.w.pth.{dead}-{_host_tag()}.abc123.tmp',
             'elsewhere': f'.w.pth.{dead}-another-host.abc123.tmp', 'alive': f'.w.pth.{os.getppid()}-{_host_tag()}.abc123.tmp',
             'mine, dead before': f'.w.pth.{os.getpid()}-{_host_tag()}.abc123.tmp',
             'mine, another thread writing': f'.w.pth.{os.getpid()}-{_host_tag()}.def456.tmp'}
    for n in names.values(): (tmp_path / n).write_bytes(b'half')
    monkeypatch.setattr(weights, '_WRITING', {names['mine, another thread writing']})
    atomic_write(tmp_path / 'w.pth', lambda f: f.write(b'whole'))
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {'w.pth', names['elsewhere'], names['alive'], names['mine, another thread writing']}, left
    assert (tmp_path / 'w.pth').read_bytes() == b'whole'
    assert weights._WRITING == {names['mine, another thread writing']}  # its own temporary's name is gone again


@pytest.mark.skipif(os.name == 'nt', reason='POSIX permissions')
def test_atomic_write_gives_open_s_permissions_without_touching_the_umask(tmp_path, monkeypatch):
    """The written file has the mode `open` would give it (0666 less the umask), and the process umask is never set
    to read it: another thread creating a file at that moment would get a world-writable one."""
    import stat
    from tsai_timemae.weights import atomic_write, remove_stale_temporaries
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, 'umask', lambda *a: pytest.fail('atomic_write set the umask'))
        atomic_write(tmp_path / 'w.pth', lambda f: f.write(b'whole'))
        atomic_write(tmp_path / 'w.txt', lambda f: f.write('text'), mode='w')
        atomic_write(tmp_path / 'w.bin', lambda f: (f.write(b'ab'), f.seek(0), f.read()), mode='w+b')
        (tmp_path / 'plain').write_bytes(b'')                                  # what open gives here (umask, or a default ACL)
    finally:
        monkeypatch.undo(); os.umask(old)
    mode = lambda name: stat.S_IMODE((tmp_path / name).stat().st_mode)
    assert mode('plain') & 0o007 == 0 and all(mode(n) == mode('plain') for n in ('w.pth', 'w.txt', 'w.bin'))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['plain', 'w.bin', 'w.pth', 'w.txt']
    assert not remove_stale_temporaries(tmp_path / 'w.pth')


def test_ts_learner_pretrained_mismatch_points_to_the_learners_that_read_the_file(dls, tmp_path):
    "ts_learner(pretrained=True) takes the architecture from its arguments; the error names the learners that read it."
    path = save_encoder_weights(TimeMAE(3, None, **SMALL), tmp_path / 'enc3.pth')          # dls has 6 channels
    with pytest.raises(ValueError, match=r"does not fit this model(.|\n)*finelast_learner/fineall_learner\(dls, weights_path\) build the model from the file's settings"):
        ts_learner(dls, TimeMAE, pretrained=True, weights_path=path, **SMALL)


@pytest.mark.parametrize('wrap', [torch.compile, torch.nn.DataParallel], ids=['compile', 'DataParallel'])
def test_a_compiled_or_wrapped_model_saves_and_loads_its_encoder(tmp_path, wrap):
    "torch.compile's and DDP's wrappers prefix every key (`_orig_mod.`, `module.`): the model inside is saved and loaded."
    m = TimeMAE(6, 4, **SMALL)
    path = save_encoder_weights(wrap(m), tmp_path / 'enc.pth')
    assert_same_state(read_encoder_weights(path), _enc(m))
    target = wrap(TimeMAE(6, 3, **SMALL))
    load_encoder_weights(target, path)
    assert_same_state(_enc(W.unwrap_model(target)), _enc(m))
    torch.save(wrap(m).state_dict(), tmp_path / 'whole.pth')            # a wrapped model's own state_dict
    assert_same_state(_enc(load_encoder_weights(TimeMAE(6, 2, **SMALL), tmp_path / 'whole.pth')), _enc(m))


def test_save_names_swapped_arguments_and_a_folder_it_cannot_write(tmp_path, monkeypatch):
    m = TimeMAE(6, 4, **SMALL)
    with pytest.raises(TypeError, match='saves a TimeMAE model, got str: the model comes first, then the path'):
        save_encoder_weights(str(tmp_path / 'enc.pth'), m)
    def refused(path): raise PermissionError(13, 'Permission denied', str(path.parent / '.enc.pth.1-x.tmp'))
    monkeypatch.setattr(W, '_new_temporary', refused)
    with pytest.raises(PermissionError, match=r'Cannot write .*enc\.pth \(Permission denied\): pass a path in a folder you can write to') as e:
        save_encoder_weights(m, tmp_path / 'enc.pth')
    assert '.tmp' not in str(e.value)


def test_a_parent_that_is_a_file_keeps_its_own_error(tmp_path):
    "Only the temporary file's error is reworded; a path through a file stays the FileExistsError it was."
    (tmp_path / 'enc.pth').write_bytes(b'x')
    with pytest.raises(FileExistsError):
        save_encoder_weights(TimeMAE(6, 4, **SMALL), tmp_path / 'enc.pth' / 'x.pth')


@pytest.mark.skipif(os.name == 'nt', reason='folders cannot be opened for fsync on Windows')
def test_atomic_write_syncs_the_folder_after_the_rename(tmp_path, monkeypatch):
    """The rename is durable only once the folder's entry is synced: a power cut just after `os.replace` could leave
    the old file. The file's data is synced before the rename, the folder after it."""
    import stat
    from tsai_timemae.weights import atomic_write
    synced, real_fsync = [], os.fsync
    monkeypatch.setattr(os, 'fsync', lambda fd: (synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)), real_fsync(fd)))
    atomic_write(tmp_path / 'w.pth', lambda f: f.write(b'whole'))
    assert synced == [False, True] and (tmp_path / 'w.pth').read_bytes() == b'whole'


def test_a_plain_state_dict_s_position_table_is_read_from_the_file_and_a_misfit_names_its_size(udls, tmp_path):
    "A bare state_dict of an encoder built with max_seq_len=64: ts_learner sizes the table from the file, as the window."
    torch.manual_seed(0)
    m = TimeMAE(6, None, **{**ODD, 'max_seq_len': 100})
    old = tmp_path / 'old.pth'
    torch.save(_enc(m), old)
    learn = ts_learner(udls, TimeMAE, pretrained=True, weights_path=old, **{k: v for k, v in ODD.items() if k != 'window'})
    assert learn.model.backbone.pos_embed.shape == m.backbone.pos_embed.shape
    assert_same_state(_enc(learn.model), _enc(m))
    with pytest.raises(ValueError, match=r'a model built by hand needs max_seq_len=100\. If the series are longer'):  # a model built by hand
        load_encoder_weights(TimeMAE(6, 3, **ODD), old, warn_unstored=False)


def test_loading_a_file_without_settings_by_hand_says_what_it_could_not_check_and_the_learners_say_it_once(dls, tmp_path):
    m = TimeMAE(6, None, **ODD)
    old = tmp_path / 'old.pth'
    torch.save(_enc(m), old)
    for weights in (old, m.state_dict()):
        with pytest.warns(TimeMAEWarning, match=r"n_heads=2, pre_norm=True could not be checked"):
            load_encoder_weights(TimeMAE(6, 3, **ODD), weights)
    with pytest.warns(TimeMAEWarning) as said:
        finelast_learner(dls, old, n_heads=2)
        ts_learner(dls, TimeMAE, pretrained=True, weights_path=old, **ODD)
        TimeMAE.from_pretrained(old, 3)
    texts = [str(w.message) for w in said if 'stores no architecture settings' in str(w.message)]
    assert len(texts) == 2 and not any('could not be checked' in t for t in texts), texts  # pre_norm, then defaults
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        load_encoder_weights(TimeMAE(6, 3, **ODD), save_encoder_weights(m, tmp_path / 'new.pth'))  # settings stored


@pytest.mark.skipif(os.name == 'nt', reason='symbolic links')
def test_saving_through_a_symbolic_link_updates_the_file_it_names(tmp_path):
    (tmp_path / 'runs').mkdir()
    target = tmp_path / 'runs' / 'enc.pth'
    target.write_bytes(b'old')
    (tmp_path / 'latest.pth').symlink_to(target)
    m = TimeMAE(6, 4, **SMALL)
    assert save_encoder_weights(m, tmp_path / 'latest.pth') == tmp_path / 'latest.pth'   # the path as passed
    assert (tmp_path / 'latest.pth').is_symlink()
    assert_same_state(read_encoder_weights(target), _enc(m))
    (tmp_path / 'next.pth').symlink_to(Path('runs') / 'new' / 'enc.pth')   # relative, to a file not there yet
    save_encoder_weights(m, tmp_path / 'next.pth')
    assert (tmp_path / 'next.pth').is_symlink() and (tmp_path / 'runs' / 'new' / 'enc.pth').is_file()
    (tmp_path / 'loop.pth').symlink_to(tmp_path / 'loop.pth')
    with pytest.raises(OSError, match='loop.pth: it is a symbolic link that leads back to itself'):
        save_encoder_weights(m, tmp_path / 'loop.pth')


def test_a_long_legal_file_name_saves_and_a_too_long_one_says_so(tmp_path):
    m = TimeMAE(6, 4, **SMALL)
    long = tmp_path / ('enc_' + 'x' * 230 + '.pth')                      # 238 bytes: legal on its own
    assert_same_state(read_encoder_weights(save_encoder_weights(m, long)), _enc(m))
    assert sorted(p.name for p in tmp_path.iterdir()) == [long.name]
    wide = tmp_path / ('\u4e2d' * 80 + '.pth')                              # 244 bytes in 84 characters: legal too
    assert_same_state(read_encoder_weights(save_encoder_weights(m, wide)), _enc(m))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([long.name, wide.name])
    with pytest.raises(OSError, match=r'its name is too long .*\(304 bytes, at most 255\): pass a shorter file name'):
        save_encoder_weights(m, tmp_path / ('enc_' + 'x' * 296 + '.pth'))
    with pytest.raises(OSError, match='the path is too long .*pass a path with shorter folder names'):
        save_encoder_weights(m, tmp_path / ('f' * 300) / 'enc.pth')
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([long.name, wide.name])  # nothing half-written


def test_a_backbone_state_dict_and_swapped_arguments_are_named_with_their_fix(tmp_path):
    """`torch.save(model.backbone.state_dict(), p)` was "holds no TimeMAE encoder weights"; `load_encoder_weights(path,
    model)` or another model as weights was "does not hold a state_dict": neither named the mistake nor the fix."""
    m = TimeMAE(3, None, **SMALL)
    torch.save(m.backbone.state_dict(), tmp_path / 'bb.pth')
    for load in (lambda: TimeMAE.from_pretrained(tmp_path / 'bb.pth'),
                 lambda: load_encoder_weights(TimeMAE(3, 2, **SMALL), m.backbone.state_dict())):
        with pytest.raises(ValueError, match=r"backbone.state_dict\(\).*save_encoder_weights"): load()
    w = save_encoder_weights(m, tmp_path / 'enc.pth')
    with pytest.raises(TypeError, match='swapped'): load_encoder_weights(w, m)
    with pytest.raises(TypeError, match=r'other_model.state_dict\(\)'): load_encoder_weights(TimeMAE(3, 2, **SMALL), m)


def test_a_learner_built_from_a_file_reads_it_once(dls, tmp_path, monkeypatch):
    """from_pretrained, the transfer learners and `ts_learner(pretrained=True)` read the file for its settings, again for
    its tensors (and a third time for a head): slow for a large file, and able to see two versions of a file that a
    run replaces meanwhile (the settings of one, the tensors of the other). One build sees one version; nothing is kept
    after it."""
    path = save_encoder_weights(TimeMAE(dls.vars, None, **SMALL), tmp_path / 'enc.pth')
    reads = []
    real = W._read_state
    monkeypatch.setattr(W, '_read_state', lambda p: reads.append(p) or real(p))
    for build in (lambda: TimeMAE.from_pretrained(path, c_out=4), lambda: finelast_learner(dls, path),
                  lambda: fineall_learner(dls, path), lambda: ts_learner(dls, TimeMAE, pretrained=True, weights_path=path)):
        reads.clear()
        build()
        assert len(reads) == 1, reads
    with W._reading_once():
        first = W._load_state(path)
        assert W._load_state(path) is first
        save_encoder_weights(TimeMAE(dls.vars, None, **{**SMALL, 'd_model': 16, 'd_ff': 32}), path)  # replaced (atomic)
        assert W._load_state(path) is first and read_encoder_file(path)[1]['d_model'] == SMALL['d_model']  # one version
    assert W._READ_ONCE.get() is None and read_encoder_file(path)[1]['d_model'] == 16   # the next build: the new file
    reads.clear(); W._load_state(path); W._load_state(path)
    assert len(reads) == 2  # outside a build, every call reads the file
