"""FineLast (a true linear probe), FineAll, export/load, and the point of it all: pretraining helps."""
import warnings

import numpy as np
import pytest
import torch
from fastai.callback.core import Callback
from fastai.learner import load_learner
from tsai.all import ts_learner

from tsai_timemae.all import (TimeMAE, TimeMAEPretrain, TimeMAEPretrainer, fineall_learner, finelast_learner,
                              flatten_probe_head, get_embeddings, save_encoder_weights)
from conftest import SMALL, assert_same_state


def _enc(m): return {k: v.clone() for k, v in m.state_dict().items() if k.startswith('backbone.')}


@pytest.fixture
def weights(tmp_path):
    return save_encoder_weights(TimeMAE(6, None, **SMALL), tmp_path / 'enc.pth')


def test_finelast_changes_no_encoder_value_norm_layers_included(dls, weights):
    learn = finelast_learner(dls, weights, n_heads=2)
    with pytest.warns(UserWarning, match='encoder frozen'): learn.unfreeze()  # even after a user's unfreeze()
    enc, head = _enc(learn.model), [p.clone() for p in learn.model.head.parameters()]
    assert any('norm' in k for k in enc)
    learn.fit_one_cycle(2, 1e-2)
    assert_same_state(_enc(learn.model), enc)
    assert all(not torch.equal(a, b) for a, b in zip(head, learn.model.head.parameters()))
    assert all(p.requires_grad for p in learn.model.parameters())          # flags restored after fit


def test_finelast_head_is_one_linear_map(dls, weights):
    "FineLast's only trainable parameters are one Linear's; its BatchNorm has no affine part (MAE's probe head)."
    learn = finelast_learner(dls, weights, n_heads=2)
    bns = [m for m in learn.model.head.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(bns) == 1 and not bns[0].affine
    linears = [m for m in learn.model.head.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 1 and linears[0].out_features == dls.c
    assert {id(p) for p in learn.model.head.parameters()} == {id(p) for p in linears[0].parameters()}


def test_flatten_probe_reads_every_patch_in_time_order_and_trains_alone(dls, weights, basic_motions):
    "`custom_head=flatten_probe_head`: one linear map over the patches in order (patch 0's features first)."
    learn = finelast_learner(dls, weights, n_heads=2, custom_head=flatten_probe_head)
    linears = [m for m in learn.model.head.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 1 and linears[0].in_features == 32 * 10           # d_model x (100 steps / window 10)
    assert {id(p) for p in learn.model.head.parameters()} == {id(p) for p in linears[0].parameters()}
    model = learn.model.eval()
    x = learn.dls.one_batch()[0][:3]
    with torch.no_grad():
        z = model.backbone(x)                                                 # [3, d_model, patches]
        flat = model.head[0](z)
    assert torch.equal(flat[:, :32], z[..., 0]) and torch.equal(flat[:, -32:], z[..., -1])
    X = basic_motions[0][:5]
    E = get_embeddings(learn, X, pool='flatten')
    assert E.shape == (5, 10 * 32)
    assert np.allclose(E.reshape(5, 10, 32).mean(1), get_embeddings(learn, X), atol=1e-5)  # the mean is the default
    enc, w = _enc(learn.model), linears[0].weight.detach().clone()
    learn.fit_one_cycle(1, 1e-2)
    assert_same_state(_enc(learn.model), enc)                                # the encoder stays frozen
    assert not torch.equal(linears[0].weight, w)                             # the head learns


def test_embeddings_of_a_middle_block_go_through_the_learners_scaling(dls, weights, basic_motions):
    "`get_embeddings(learn, X, layer=k)`: block k's mean-pooled output of the series the learner's transforms scaled."
    learn = finelast_learner(dls, weights, n_heads=2)
    X = basic_motions[0][:5]
    bb, xb = learn.model.backbone, learn.dls.valid.new_dl(X).one_batch()[0]
    with torch.no_grad(): want = bb.eval().block_output(xb, 1).mean(-1).numpy()
    assert np.allclose(get_embeddings(learn, X, layer=1), want, atol=1e-5)
    assert np.allclose(get_embeddings(learn, X, layer=-1), get_embeddings(learn, X), atol=1e-6)  # -1: the output
    assert not np.allclose(get_embeddings(learn, X, layer=1), get_embeddings(learn, X), atol=1e-3)
    assert get_embeddings(learn, X, pool='flatten', layer=0).shape == (5, 10 * 32)
    with pytest.raises(ValueError, match=r'layer must be a whole number from 0 .* to 2 '):
        get_embeddings(learn, X, layer=3)


@pytest.mark.parametrize('make', [finelast_learner, fineall_learner])
def test_layer_keeps_the_first_blocks_and_reads_what_get_embeddings_reads_there(dls, weights, basic_motions, make):
    "`layer=k`: the model is the pretrained encoder's first k blocks, so its features are block k's of the whole one."
    from tsai_timemae.all import read_encoder_weights
    X, sd = basic_motions[0][:5], read_encoder_weights(weights)
    whole, cut = make(dls, weights, n_heads=2), make(dls, weights, n_heads=2, layer=1)
    assert cut.layer == (1, 2) and whole.layer is None and cut.model.backbone.n_layers == 1
    own = _enc(cut.model)
    assert set(own) == {k for k in sd if not k.startswith('backbone.encoder.layers.1.')}
    for k, v in own.items(): assert torch.equal(v, sd[k]), k
    assert np.allclose(get_embeddings(cut, X), get_embeddings(whole, X, layer=1), atol=1e-5)
    assert np.allclose(get_embeddings(make(dls, weights, n_heads=2, layer=-1), X), get_embeddings(whole, X), atol=1e-6)
    cut.fit_one_cycle(1, 1e-2)
    assert (make is finelast_learner) == all(torch.equal(v, sd[k]) for k, v in _enc(cut.model).items())


def test_layer_is_refused_where_it_cannot_mean_a_block_of_the_file(dls, dls3, weights):
    from tsai_timemae.all import timemae_learner
    with pytest.raises(ValueError, match=r'layer=0 is the patch and position embedding alone.*layer=1 to 2.*get_embeddings'):
        finelast_learner(dls, weights, n_heads=2, layer=0)
    with pytest.raises(ValueError, match=r'layer must be a whole number from 0 .* to 2 '):
        fineall_learner(dls, weights, n_heads=2, layer=3)
    with pytest.raises(ValueError, match=r'layer= keeps the first blocks of a pretrained encoder: pass weights_path'):
        timemae_learner(dls, layer=1)
    with pytest.raises(ValueError, match=r'layer=1 keeps the first 1 of the 2 blocks.*leave n_layers out'):
        fineall_learner(dls, weights, n_heads=2, layer=1, n_layers=2)
    with pytest.raises(ValueError, match=r"(?s)c_in 6 \(pretrained\) vs 3 \(here\).*reinit='patch_embed'"):
        fineall_learner(dls3, weights, n_heads=2, layer=1)
    learn = fineall_learner(dls3, weights, n_heads=2, layer=1, reinit='patch_embed')   # both: a transfer, cut
    assert learn.layer == (1, 2) and learn.reinitialised == ['patch_embed.proj.weight', 'patch_embed.proj.bias']


def test_flatten_probe_names_a_series_of_another_length(dls, weights):
    learn = finelast_learner(dls, weights, n_heads=2, custom_head=flatten_probe_head)
    with pytest.raises(ValueError, match=r'built for 10 patches but the encoder gave 5.*linear_probe_head'):
        learn.model.eval()(torch.randn(2, 6, 50))
    with pytest.raises(ValueError, match=r"pool must be one of \('mean', 'flatten'\)"):
        get_embeddings(learn, np.zeros((2, 6, 100), dtype=np.float32), pool='max')
    assert get_embeddings(learn, np.zeros((0, 6, 95), dtype=np.float32), pool='flatten').shape == (0, 10 * 32)


def test_flatten_probe_without_a_series_length_is_refused_when_built():
    "Built without `seq_len` the number of patches is unknown: an error at construction that says what to pass."
    with pytest.raises(ValueError, match=r'flatten_probe_head failed when given None for the number of patches.*seq_len='):
        TimeMAE(6, 4, custom_head=flatten_probe_head, **SMALL)
    model = TimeMAE(6, 4, seq_len=100, custom_head=flatten_probe_head, **SMALL).eval()
    assert model(torch.randn(2, 6, 100)).shape == (2, 4)                    # sized from the length: 10 patches
    seen = []
    TimeMAE(6, 4, custom_head=lambda nf, c, n: seen.append(n) or torch.nn.Linear(nf, c), **SMALL)
    assert seen == [None]                                                    # a head that pools needs no length


def test_finelast_runs_the_frozen_encoder_without_dropout(dls, weights):
    learn = finelast_learner(dls, weights, n_heads=2)
    modes = []
    learn.model.backbone.register_forward_pre_hook(lambda m, a: modes.append(m.training))
    learn.fit(1, 1e-3)
    assert modes and not any(modes)


def test_fineall_trains_every_parameter(dls, weights):
    learn = fineall_learner(dls, weights, n_heads=2)
    before = [p.clone() for p in learn.model.parameters()]
    learn.fit_one_cycle(1, 1e-3)
    assert all(not torch.equal(a, b) for a, b in zip(before, learn.model.parameters()))


def test_architecture_is_read_from_the_weights_file(dls, weights):
    learn = finelast_learner(dls, weights, n_heads=2)
    bb = learn.model.backbone
    assert (bb.window, bb.d_model, len(bb.encoder.layers)) == (10, 32, 2)


def test_learners_survive_export_and_load(dls, udls, weights, tmp_path, basic_motions):
    X = basic_motions[2][:8]
    learn = fineall_learner(dls, weights, n_heads=2, path=tmp_path)
    learn.fit(1, 1e-3)
    learn.export('clf.pkl')
    loaded = load_learner(tmp_path / 'clf.pkl')
    assert np.allclose(learn.get_X_preds(X)[0], loaded.get_X_preds(X)[0], atol=1e-6)
    pre = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, verbose=False), path=tmp_path, **SMALL)
    pre.fit(1, 1e-3)
    pre.export('pre.pkl')                                                   # a pretraining learner exports too
    again = load_learner(tmp_path / 'pre.pkl')
    assert isinstance(again.model, TimeMAEPretrainer) and isinstance(pre.model, TimeMAEPretrainer)  # the pretraining network
    assert_same_state(_enc(again.model), _enc(pre.model))


# -- transfer across data sets: another channel count or window ------------------------------------------------------
@pytest.fixture
def dls3(basic_motions, splits):
    "BasicMotions' accelerometer alone: 3 of its 6 channels, the 'other data set' of these tests."
    from tsai.data.core import TSClassification, get_ts_dls
    from tsai.data.preprocessing import TSStandardize
    X, y = basic_motions[:2]
    return get_ts_dls(X[:, :3], y, splits=splits, tfms=[None, TSClassification()],
                      batch_tfms=[TSStandardize(by_var=True)], bs=10)


@pytest.mark.parametrize('make', [finelast_learner, fineall_learner])
def test_a_channel_or_window_mismatch_is_an_error_that_names_reinit(dls, dls3, weights, make):
    with pytest.raises(ValueError, match=r"(?s)pretrained on series with 6 channels.*c_in 6 \(pretrained\) vs 3 \(here\).*reinit='patch_embed'"):
        make(dls3, weights, n_heads=2)
    with pytest.raises(ValueError, match=r"(?s)does not fit this model.*window 10 \(pretrained\) vs 5 \(here\).*reinit='patch_embed'"):
        make(dls, weights, n_heads=2, window=5)


def test_a_mismatch_error_gives_the_learners_advice_once_and_names_the_file(dls3, weights):
    "No advice to use the learner that raised it; `from_pretrained` names the file; max_seq_len as it was saved."
    with pytest.raises(ValueError) as e: finelast_learner(dls3, weights, n_heads=2)
    msg = str(e.value)
    assert "reinit='patch_embed'" in msg and 'build the model from the file' not in msg
    assert 'max_seq_len=8192' in msg and 'max_seq_len=8200' not in msg      # the table has 820 rows of 10 steps
    with pytest.raises(ValueError, match=rf'(?s)encoder in {weights} does not fit.*max_seq_len=8192.*\nThis model has: .*window=8, .*max_seq_len=8192'):
        TimeMAE.from_pretrained(weights, window=8)


def test_reinit_patch_embed_keeps_the_pretrained_transformer_for_other_channels(dls3, weights):
    from tsai_timemae.all import read_encoder_weights, timemae_learner
    sd = read_encoder_weights(weights)
    learn = fineall_learner(dls3, weights, n_heads=2, reinit='patch_embed')
    assert learn.reinitialised == ['patch_embed.proj.weight', 'patch_embed.proj.bias']
    own = _enc(learn.model)
    assert own['backbone.patch_embed.proj.weight'].shape == (32, 3, 10)
    for k, v in own.items():
        if 'patch_embed' not in k: assert torch.equal(v, sd[k]), k            # the pos table too: same window
    learn.fit(1, 1e-3)
    with pytest.raises(ValueError, match='reinit must be None'):
        timemae_learner(dls3, weights, n_heads=2, reinit='everything')
    with pytest.raises(ValueError, match='pass weights_path'):
        timemae_learner(dls3, None, reinit='patch_embed')


def test_reinit_with_another_window_renews_the_position_table(dls, weights):
    sd = _enc(TimeMAE(6, None, **SMALL))
    learn = fineall_learner(dls, weights, n_heads=2, window=5, reinit='patch_embed')
    assert learn.reinitialised == ['pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias']
    assert learn.model.backbone.window == 5 and learn.model.backbone.patch_embed.proj.weight.shape == (32, 6, 5)
    assert learn.model.backbone.pos_embed.shape[1] != sd['backbone.pos_embed'].shape[1]


def test_a_different_model_width_still_fails_with_reinit(dls3, tmp_path):
    "reinit renews the input side only: a Transformer of another size is still the strict loader's clear error."
    w = save_encoder_weights(TimeMAE(6, None, **SMALL), tmp_path / 'enc.pth')
    with pytest.raises(ValueError, match='does not fit this model'):
        fineall_learner(dls3, w, n_heads=2, reinit='patch_embed', d_model=16)


def test_finelast_with_reinit_trains_the_new_patch_embedding_and_nothing_else_of_the_encoder(dls3, weights):
    learn = finelast_learner(dls3, weights, n_heads=2, reinit='patch_embed')
    before = _enc(learn.model)
    learn.fit_one_cycle(2, 1e-2)
    after = _enc(learn.model)
    for k in before:
        changed = not torch.equal(before[k], after[k])
        assert changed == ('patch_embed' in k), k



def test_a_callers_freeze_encoder_keeps_its_trainable_parts_beside_the_reinitialised_ones(dls3, weights):
    "`cbs=FreezeEncoder(trainable=('pos_embed',))` with `reinit=`: the learner replaced the caller's choice with its own."
    from tsai_timemae.all import FreezeEncoder
    learn = finelast_learner(dls3, weights, n_heads=2, reinit='patch_embed', cbs=FreezeEncoder(trainable=('pos_embed',)))
    before = _enc(learn.model)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(2, 1e-2)
    moved = {k for k, v in _enc(learn.model).items() if not torch.equal(v, before[k])}
    assert 'backbone.pos_embed' in moved and any('patch_embed' in k for k in moved)
    assert all('patch_embed' in k or k == 'backbone.pos_embed' for k in moved), moved

# -- the derived window next to a weights file (window=None is the default, not a choice) ----------------------------
W8 = {**{k: v for k, v in SMALL.items() if k != 'window'}, 'window': 8}


def test_window_none_next_to_a_weights_file_takes_the_files_window(dls, tmp_path):
    "BasicMotions has 100 steps (auto_window: 7); an 8-step encoder must load wherever window=None is forwarded."
    w = save_encoder_weights(TimeMAE(6, None, **W8), tmp_path / 'w8.pth')
    assert dls.len == 100
    assert fineall_learner(dls, w, window=None, n_heads=2).model.backbone.window == 8
    assert finelast_learner(dls, w, window=None, n_heads=2).model.backbone.window == 8
    assert TimeMAE.from_pretrained(w, c_out=4, window=None).window == 8
    learn = ts_learner(dls, TimeMAE, pretrained=True, weights_path=w, window=None)
    assert learn.model.backbone.window == 8


def test_a_bare_state_dict_through_tsai_keeps_its_window(dls, tmp_path):
    "Files saved before the settings were stored (and fastai checkpoints) load with the window their tensors have."
    m = TimeMAE(6, None, **W8)
    old = tmp_path / 'bare.pth'
    torch.save({k: v for k, v in m.state_dict().items() if k.startswith('backbone.')}, old)
    small = {k: v for k, v in W8.items() if k != 'window'}
    learn = ts_learner(dls, TimeMAE, pretrained=True, weights_path=old, **small)
    assert learn.model.backbone.window == 8
    assert_same_state(_enc(learn.model), _enc(m))


def test_finelast_freezes_a_model_wrapped_for_data_parallel_training(dls, weights):
    """Under `timemae_distrib_ctx` fastai's DistributedTrainer (order 11) wraps `learn.model` after before_fit and
    unwraps it after after_fit; the freezing must reach the backbone through the wrapper (here nn.DataParallel, which
    fastai's `get_model` unwraps the same way and which runs on a CPU)."""
    from fastai.callback.core import Callback

    class Wrap(Callback):
        order = 11
        def before_fit(self): self.learn.model = torch.nn.DataParallel(self.learn.model)
        def after_fit(self): self.learn.model = self.learn.model.module

    learn = finelast_learner(dls, weights, n_heads=2, cbs=Wrap())
    enc = _enc(learn.model)
    modes = []
    learn.model.backbone.register_forward_pre_hook(lambda m, a: modes.append(m.training))
    learn.fit(1, 1e-3)
    assert modes and not any(modes)
    assert_same_state(_enc(learn.model), enc)
    assert all(p.requires_grad for p in learn.model.parameters())


def test_freeze_encoder_holds_an_encoder_that_trained_before(dls, weights):
    "Gradients and Adam's momentum left by an earlier FineAll fit must not move the encoder once FreezeEncoder is on."
    from tsai_timemae.all import FreezeEncoder
    learn = fineall_learner(dls, weights)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3)
    before = _enc(learn.model)
    learn.add_cb(FreezeEncoder())
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3)
    assert_same_state(before, _enc(learn.model))


def test_exclude_head_false_is_refused_rather_than_ignored(dls, weights):
    "tsai would load the head too with exclude_head=False; TimeMAE loads encoders only, so it says so."
    with pytest.raises(ValueError, match=r'exclude_head=False.*encoder only.*learn.load'):
        ts_learner(dls, TimeMAE, pretrained=True, weights_path=weights, exclude_head=False, **SMALL)


def test_finelast_unfreeze_and_fine_tune_say_the_encoder_stays_frozen(dls, weights, tmp_path):
    """fastai's `fine_tune` unfreezes after its frozen epochs; on FineLast the encoder stays fixed, so a user is told,
    and told how to train it. Removing FreezeEncoder trains it, without the warning."""
    from tsai_timemae.all import FreezeEncoder
    learn = finelast_learner(dls, weights, n_heads=2)
    enc = _enc(learn.model)
    with pytest.warns(UserWarning, match=r'encoder frozen.*fineall_learner.*remove_cb\(FreezeEncoder\)'):
        with learn.no_bar(), learn.no_logging(): learn.fine_tune(1, 1e-2, freeze_epochs=1)
    assert_same_state(_enc(learn.model), enc)
    with pytest.warns(UserWarning, match='encoder frozen'): learn.unfreeze()
    learn.path = tmp_path
    learn.export('finelast.pkl')                                            # the learner still pickles
    assert load_learner(tmp_path / 'finelast.pkl') is not None
    learn.remove_cb(FreezeEncoder)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        learn.unfreeze()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3)
    assert any(not torch.equal(a, b) for a, b in zip(enc.values(), _enc(learn.model).values()))


def test_an_interrupted_finelast_fit_leaves_the_encoder_trainable_once_freeze_encoder_is_removed(dls, weights):
    """fastai skips `after_fit` when an exception (Ctrl-C) stops a fit: the encoder must not stay frozen, or the
    README's `learn.remove_cb(FreezeEncoder)` would then train only the head, without a word."""
    from fastai.callback.core import Callback

    from tsai_timemae.all import FreezeEncoder

    class Interrupt(Callback):
        def after_batch(self): raise KeyboardInterrupt
    learn = finelast_learner(dls, weights, n_heads=2)
    with pytest.raises(KeyboardInterrupt), learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2, cbs=Interrupt())
    assert all(p.requires_grad for p in learn.model.backbone.parameters())
    with pytest.raises(KeyboardInterrupt), learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2, cbs=Interrupt())
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)  # FineLast again: still frozen while it fits
    assert all(p.requires_grad for p in learn.model.backbone.parameters())
    enc = _enc(learn.model)
    learn.remove_cb(FreezeEncoder)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3)
    assert any(not torch.equal(a, b) for a, b in zip(enc.values(), _enc(learn.model).values()))


def test_a_second_freeze_encoder_does_not_leave_the_encoder_frozen(dls, weights):
    """`finelast_learner(dls, w, cbs=FreezeEncoder())`, or `fit(cbs=FreezeEncoder())` on a FineLast learner: the second
    callback recorded the flags the first had cleared and restored them last, so the encoder stayed frozen for good and
    README's `remove_cb(FreezeEncoder)` then trained only the head."""
    from tsai_timemae.all import FreezeEncoder
    learn = finelast_learner(dls, weights, n_heads=2, cbs=FreezeEncoder())
    assert sum(isinstance(cb, FreezeEncoder) for cb in learn.cbs) == 1
    enc = _enc(learn.model)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2, cbs=FreezeEncoder())
    assert_same_state(_enc(learn.model), enc)                                # frozen while it fitted
    assert all(p.requires_grad for p in learn.model.backbone.parameters())   # and given back after
    fit_with = lambda cb: learn.fit(1, 1e-2, cbs=cb)
    with learn.no_bar(), learn.no_logging(): fit_with(FreezeEncoder(trainable=('patch_embed',)))  # its parts train
    moved = [k for k, v in _enc(learn.model).items() if not torch.equal(v, enc[k])]
    assert moved and all(k.startswith('backbone.patch_embed') for k in moved), moved
    enc = _enc(learn.model)
    learn.remove_cb(FreezeEncoder)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3)
    assert any(not torch.equal(a, b) for a, b in zip(enc.values(), _enc(learn.model).values()))


def test_a_freeze_encoder_given_to_one_interrupted_fit_gives_the_encoder_back(dls, weights):
    """`fineall.fit(n, cbs=FreezeEncoder())` stopped by Ctrl-C: fastai skips `after_fit`, and a callback passed to one
    fit never installs the owner's restoring `fit`; the encoder stayed frozen, so every later fit trained only the head."""
    from fastai.callback.core import Callback

    from tsai_timemae.all import FreezeEncoder

    class Interrupt(Callback):
        def after_batch(self): raise KeyboardInterrupt
    learn = fineall_learner(dls, weights, n_heads=2)
    with pytest.raises(KeyboardInterrupt), learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-2, cbs=[FreezeEncoder(), Interrupt()])
    assert not any(isinstance(cb, FreezeEncoder) for cb in learn.cbs)
    assert all(p.requires_grad for p in learn.model.backbone.parameters())
    enc = _enc(learn.model)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert any(not torch.equal(a, b) for a, b in zip(enc.values(), _enc(learn.model).values()))


def test_finelast_refuses_several_targets_per_series_by_name(basic_motions, splits, weights):
    "tsai passes `d` to a custom head for several regression outputs: a bare TypeError (unexpected keyword) before."
    from tsai.all import TSClassification, TSRegression, TSStandardize, get_ts_dls
    X = basic_motions[0]
    y2 = np.random.default_rng(0).standard_normal((len(X), 2)).astype('float32')
    rdls = get_ts_dls(X, y2, splits=splits, tfms=[None, TSRegression()], batch_tfms=[TSStandardize(by_var=True)], bs=8)
    with pytest.raises(ValueError, match=r'linear_probe_head gives 1 output per series.*2 values per series.*y\[:, 0\]'):
        finelast_learner(rdls, weights, n_heads=2)
    with pytest.raises(ValueError, match=r'flatten_probe_head gives 1 output per series'):
        finelast_learner(rdls, weights, n_heads=2, custom_head=flatten_probe_head)
    one = get_ts_dls(X, y2[:, :1], splits=splits, tfms=[None, TSRegression()], batch_tfms=[TSStandardize(by_var=True)], bs=8)
    learn = finelast_learner(one, weights, n_heads=2)             # y of shape (n, 1): tsai's d=1, one output
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    from fastai.losses import BCEWithLogitsLossFlat
    from tsai.all import TSMultiLabelClassification
    multi = np.array([['a', 'b'], ['b'], ['c'], ['a', 'c']] * (len(X) // 4), dtype=object)  # d = c = 3: one score a class
    mdls = get_ts_dls(X, multi, splits=splits, tfms=[None, TSMultiLabelClassification()], batch_tfms=[TSStandardize(by_var=True)], bs=8)
    learn = finelast_learner(mdls, weights, n_heads=2, loss_func=BCEWithLogitsLossFlat())
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    y = basic_motions[1]
    cdls = get_ts_dls(X, y.reshape(-1, 1), splits=splits, tfms=[None, TSClassification()],  # class labels as a column:
                      batch_tfms=[TSStandardize(by_var=True)], bs=8)                          # d=1 beside 4 classes
    learn = finelast_learner(cdls, weights, n_heads=2)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)


@pytest.mark.parametrize('make', [finelast_learner, fineall_learner])
def test_init_initialises_the_new_head_and_keeps_the_pretrained_encoder(dls, weights, make):
    "tsai's `init=` re-initialises a pretrained model's head (its `model[1]`); on TimeMAE that is `model.head`."
    from torch import nn
    plain = make(dls, weights, n_heads=2)
    learn = make(dls, weights, n_heads=2, init=nn.init.zeros_)
    assert_same_state(_enc(learn.model), _enc(plain.model))
    weights_ = [p for n, p in learn.model.head.named_parameters() if n.endswith('weight')]
    assert weights_ and all(torch.count_nonzero(p) == 0 for p in weights_)


def test_arch_config_is_checked_against_the_file_as_the_keywords_are(dls, dls3, weights):
    "tsai users pass settings in `arch_config`: the learners read them as keywords, not a TypeError from tsai."
    from tsai_timemae.all import read_encoder_weights, timemae_learner
    sd = read_encoder_weights(weights)
    for make in (finelast_learner, fineall_learner, timemae_learner):
        learn = make(dls, weights, arch_config=dict(dropout=0.1, d_model=32))   # a training setting, and the file's width
        assert learn.model.backbone.config['dropout'] == 0.1 and learn.model.backbone.config['n_heads'] == 2
        assert_same_state(_enc(learn.model), {k: v for k, v in sd.items() if k.startswith('backbone.')})
    with pytest.raises(ValueError, match='d_model'):                              # contradicting the file: its error
        fineall_learner(dls, weights, arch_config=dict(d_model=16))
    with pytest.raises(ValueError, match=r'dropout \(arch_config 0.1, keyword 0.2\).*once'):
        finelast_learner(dls, weights, dropout=0.2, arch_config=dict(dropout=0.1))
    for make, opt in ((finelast_learner, 'freeze_encoder'), (fineall_learner, 'layer'), (timemae_learner, 'reinit')):
        with pytest.raises(ValueError, match=f'{opt} is an option of the learner.*{make.__name__}'):   # not a model setting
            make(dls, weights, arch_config={opt: 1})
    learn = timemae_learner(dls, weights, arch_config=dict(c_out=None))         # features on labelled data, as in tsai
    assert learn.model.c_out is None
    with pytest.raises(ValueError, match='fineall_learner trains the encoder and a new classifier.*get_embeddings'):
        fineall_learner(dls, weights, arch_config=dict(c_out=None))             # its loss would read features as logits
    with pytest.raises(ValueError, match='finelast_learner trains a linear classifier.*get_embeddings'):
        finelast_learner(dls, weights, arch_config=dict(c_out=None))
    from types import MappingProxyType
    assert fineall_learner(dls, weights, arch_config=MappingProxyType(dict(dropout=0.1))).model.backbone.config['dropout'] == 0.1
    learn = fineall_learner(dls3, weights, reinit='patch_embed', arch_config=dict(window=5))  # transfer to another window
    assert learn.model.backbone.window == 5 and 'pos_embed' in learn.reinitialised



def test_a_freeze_encoder_pickled_before_its_learn_property_still_finds_its_learner(dls, weights):
    "A FineLast learner exported (or an sktime estimator pickled) before the property kept its learner under 'learn'."
    from tsai_timemae.all import FreezeEncoder
    learn = finelast_learner(dls, weights, n_heads=2)
    cb = next(c for c in learn.cbs if isinstance(c, FreezeEncoder))
    cb.__dict__['learn'] = cb.__dict__.pop('_learn')  # the state an older version pickled
    assert cb.learn is learn
    preds = learn.get_preds()[0]
    assert preds.shape[0] == len(dls.valid_ds)
    learn.remove_cb(cb)
    assert cb.learn is None and 'learn' not in cb.__dict__


def test_a_freeze_encoder_reused_for_another_reinit_learner_does_not_gather_its_parts(dls3, weights):
    "The re-initialised parts are the learner's: a caller's callback re-used elsewhere keeps only its own `trainable`."
    from tsai_timemae.all import FreezeEncoder
    cb = FreezeEncoder(trainable=('pos_embed',))
    finelast_learner(dls3, weights, n_heads=2, reinit='patch_embed', cbs=cb)
    assert cb.trainable == ('pos_embed',)


def test_reinitialised_parts_train_however_the_encoder_is_frozen(dls3, weights):
    """With `reinit=`, the new patch embedding stayed frozen at its random start when the freezing came from a
    FreezeEncoder passed to one fit (LP-FT's first stage) rather than from finelast_learner itself."""
    from tsai_timemae.all import FreezeEncoder
    learn = fineall_learner(dls3, weights, n_heads=2, reinit='patch_embed')
    before = _enc(learn.model)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(2, 1e-2, cbs=FreezeEncoder())
    moved = {k for k, v in _enc(learn.model).items() if not torch.equal(v, before[k])}
    assert moved and all('patch_embed' in k for k in moved), moved


def test_freeze_encoder_names_trainable_parts_whole_and_refuses_what_matches_nothing(dls, weights):
    """A string was split into letters (every parameter starting with 'p' or 'e' trained), 'encoder.layers.1' also
    trained blocks 10 and 11, and a misspelt or 'backbone.'-prefixed name froze everything without a word."""
    from tsai_timemae.all import FreezeEncoder
    assert FreezeEncoder('pos_embed').trainable == ('pos_embed',) == FreezeEncoder(['backbone.pos_embed']).trainable
    learn = finelast_learner(dls, weights, n_heads=2, cbs=FreezeEncoder(trainable='pos_embed'))
    before = _enc(learn.model)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    assert {k for k, v in _enc(learn.model).items() if not torch.equal(v, before[k])} == {'backbone.pos_embed'}
    learn = finelast_learner(dls, weights, n_heads=2, cbs=FreezeEncoder(trainable=('pos_embedding',)))
    with pytest.raises(ValueError, match=r"names \['pos_embedding'\], which match no parameter of the encoder.*'pos_embed'"):
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    deep = save_encoder_weights(TimeMAE(6, None, **{**SMALL, 'n_layers': 11}), weights.parent / 'deep.pth')
    learn = finelast_learner(dls, deep, n_heads=2, cbs=FreezeEncoder(trainable=('encoder.layers.1',)))
    with learn.no_bar(), learn.no_logging(): learn.fit(0)  # runs before_fit: the flags the fit would train with
    seen = set()
    class Flags(Callback):
        def before_train(self): seen.update({n.split('.')[2] for n, p in self.learn.model.backbone.named_parameters()
                                             if p.requires_grad and n.startswith('encoder.layers.')})
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=Flags())
    assert seen == {'1'}                                     # not blocks 10 and 11, whose names start with '1' too


def test_a_classifier_learner_refuses_features_and_from_pretrained_says_a_saved_head_is_not_loaded(dls, weights, tmp_path):
    """fineall_learner(arch_config=dict(c_out=None)) trained the pooled features as logits of d_model classes; a whole
    classifier's file gave from_pretrained a new random head without a word; asking for fewer blocks named no `layer=`."""
    from tsai_timemae.notices import TimeMAEWarning
    with pytest.raises(ValueError, match=r'fineall_learner trains the encoder and a new classifier, so it needs classes: c_out=None'):
        fineall_learner(dls, weights, arch_config=dict(c_out=None))
    learn = finelast_learner(dls, weights, n_heads=2)
    learn.path = tmp_path
    learn.save('clf')
    with pytest.warns(TimeMAEWarning, match=r'also holds a classifier head.*new, untrained head.*learn.load\(name\)'):
        TimeMAE.from_pretrained(tmp_path / 'models' / 'clf.pth', c_out=2, n_heads=2, pre_norm=False)
    # the learners too: a fine-tuned model "reloaded" this way scored a random head without a word
    for make in (lambda f: finelast_learner(dls, f, n_heads=2, pre_norm=False),
                 lambda f: fineall_learner(dls, f, n_heads=2, pre_norm=False, layer=1)):
        with pytest.warns(TimeMAEWarning, match=r"also holds a classifier head.*only its encoder is loaded.*learn.load\(name\)"):
            make(tmp_path / 'models' / 'clf.pth')
    with warnings.catch_warnings():
        warnings.simplefilter('error', TimeMAEWarning)
        TimeMAE.from_pretrained(weights, c_out=2, n_heads=2)                   # an encoder file: nothing to say
    with pytest.raises(ValueError, match=r'To use only its first 1 blocks, pass layer=1 to finelast_learner'):
        finelast_learner(dls, weights, n_heads=2, n_layers=1)


def test_tsais_transfer_weights_in_the_users_namespace_is_the_strict_one():
    "After `from tsai.all import *` the user's transfer_weights was tsai's, which cannot read these files."
    import tsai.all
    import tsai.models.utils as tmu
    assert tsai.all.transfer_weights is tmu.transfer_weights and hasattr(tmu.transfer_weights, '_tsai_original')


def test_the_probe_heads_batchnorm_takes_one_series_and_is_batchnorm_otherwise():
    """FineLast's head failed with torch's "Expected more than 1 value per channel" on a training batch of one series.
    One value per feature is standardized with the running statistics, unchanged; everything else is BatchNorm1d's."""
    from tsai_timemae.transfer import ProbeBatchNorm1d
    torch.manual_seed(0)
    ours, theirs = ProbeBatchNorm1d(5), torch.nn.BatchNorm1d(5, affine=False)
    for shape in ((4, 5), (1, 5, 3), (2, 5, 1)):                     # several values per feature: the same as torch's
        x = torch.randn(shape)
        assert torch.equal(ours(x), theirs(x)) and torch.equal(ours.running_mean, theirs.running_mean)
    ours.eval(); theirs.eval()
    x = torch.randn(3, 5)
    assert torch.equal(ours(x), theirs(x))
    ours.train()
    before = ours.running_mean.clone(), ours.running_var.clone(), int(ours.num_batches_tracked)
    one = torch.randn(1, 5)
    assert torch.allclose(ours(one), (one - before[0]) / (before[1] + ours.eps).sqrt())
    assert torch.equal(ours.running_mean, before[0]) and int(ours.num_batches_tracked) == before[2]
    assert ProbeBatchNorm1d(5, eps=1e-3).eps == 1e-3 and ProbeBatchNorm1d(5).affine is False


def _pretrained_file(udls, tmp_path):
    learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, verbose=False), **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    return learn.cbs.filter(lambda c: isinstance(c, TimeMAEPretrain))[0].weights_path


def _scaling_warnings(make, dls):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter('always')
        learn = make(dls)
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    return learn, [str(r.message) for r in rec if 'scaled otherwise' in str(r.message)]


def test_the_encoder_file_records_the_inputs_pretraining_saw(udls, tmp_path, basic_motions, splits):
    "Per-channel mean and deviation after the loaders' transforms (standardised: about 0 and 1), for fine-tuning to compare."
    from tsai_timemae.weights import read_input_stats
    stats = read_input_stats(_pretrained_file(udls, tmp_path))
    assert stats is not None and len(stats['mean']) == len(stats['std']) == 6 and stats['series'] == 30   # 1st epoch
    assert np.allclose(stats['mean'], 0, atol=0.3) and np.allclose(stats['std'], 1, atol=0.3)
    assert all(lo <= hi for r in (stats['series_mean'], stats['series_std']) for lo, hi in r) and len(stats['series_std']) == 6
    raw = basic_motions[0][splits[0]]                                           # the same series before TSStandardize
    assert not np.allclose(raw.std((0, 2)), 1, atol=0.3)
    assert read_input_stats(save_encoder_weights(TimeMAE(6, None, **SMALL), tmp_path / 'untrained.pth')) is None


@pytest.mark.parametrize('route', ['finelast', 'fineall', 'ts_learner', 'layer'])
def test_fine_tuning_on_inputs_scaled_otherwise_warns_once_with_the_fix(udls, tmp_path, basic_motions, splits, route):
    """The pretraining's TSStandardize left out of the fine-tuning loaders: no error, and features the encoder never
    learned from; a warning names the fix. With the pretraining's transforms: no warning, and the same training."""
    from tsai.data.core import TSClassification, get_ts_dls
    from conftest import standardize_by_channel
    w = _pretrained_file(udls, tmp_path)
    make = {'finelast': lambda d: finelast_learner(d, w), 'fineall': lambda d: fineall_learner(d, w),
            'ts_learner': lambda d: ts_learner(d, TimeMAE, pretrained=True, weights_path=w),
            'layer': lambda d: finelast_learner(d, w, layer=1)}[route]
    X, y = basic_motions[:2]
    raw = get_ts_dls(X, y, splits=splits, tfms=[None, TSClassification()], bs=10)   # the series as stored
    learn, said = _scaling_warnings(make, raw)
    assert len(said) == 1 and 'TSStandardize(by_var=True)' in said[0] and str(w) in said[0]
    assert learn.model.backbone.input_stats['mean'] and len(learn.cbs.filter(lambda c: type(c).__name__ == 'CheckInputScaling')) == 1
    same = get_ts_dls(X, y, splits=splits, tfms=[None, TSClassification()], batch_tfms=[standardize_by_channel()], bs=10)
    assert _scaling_warnings(make, same)[1] == []


def test_features_of_a_bare_model_from_raw_series_warn_with_the_fix(udls, tmp_path, basic_motions, splits):
    """`get_embeddings(TimeMAE.from_pretrained(path), X)` takes X as given: the series as stored, without the
    pretraining's TSStandardize, gave features the encoder never learned from without a word. Scaled alike: none."""
    from tsai_timemae.all import get_embeddings
    model = TimeMAE.from_pretrained(_pretrained_file(udls, tmp_path))
    X = basic_motions[0][splits[0]]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter('always')
        get_embeddings(model, X)
        said = [str(r.message) for r in rec if 'scaled otherwise' in str(r.message)]
        assert len(said) == 1 and 'a bare model takes X as given' in said[0] and 'pass the learner' in said[0]
        scaled = (X - X.mean((0, 2), keepdims=True)) / X.std((0, 2), keepdims=True)  # as the pretraining's loaders did
        get_embeddings(model, scaled)
    assert [str(r.message) for r in rec if 'scaled otherwise' in str(r.message)] == said


def test_the_scaling_check_leaves_fine_tuning_as_it_was(dls, udls, tmp_path):
    "It only reads batches: the same seed gives the same weights with and without it."
    from fastai.torch_core import set_seed
    from tsai_timemae.transfer import CheckInputScaling
    from tsai_timemae.weights import read_input_stats
    w = _pretrained_file(udls, tmp_path)
    states = []
    for check in (True, False):
        set_seed(3)
        learn = fineall_learner(dls, w)
        if not check: learn.remove_cbs(learn.cbs.filter(lambda c: isinstance(c, CheckInputScaling)))
        with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-3)
        states.append({k: v.clone() for k, v in learn.model.state_dict().items()})
    assert_same_state(*states)
    assert CheckInputScaling(read_input_stats(w)).n_batches == 8



def test_input_statistics_keep_a_deviation_far_from_zero_and_compare_series_not_pooled_values():
    """float32 sums of squares gave a deviation of 0 (or 34 for 10) for values near 101325; a class-balanced labelled
    subset of imbalanced data moved the pooled deviation 3x and was taken for another scaling."""
    from tsai_timemae.weights import input_stats, scaling_mismatch, series_stats
    g = torch.Generator().manual_seed(0)
    air = 101325 + 10 * torch.randn(64, 1, 200, generator=g)
    assert abs(input_stats(series_stats(air))['std'][0] - 10) < 0.3
    ok, fault = torch.randn(490, 1, 50, generator=g), 10 * torch.randn(10, 1, 50, generator=g)
    pre = input_stats(series_stats(torch.cat([ok, fault])))
    balanced = series_stats(torch.cat([ok[:8], fault[:8]]))                 # label_subset(per_class=8)
    assert scaling_mismatch(pre, balanced) == [] and scaling_mismatch(pre, series_stats(fault)) == []
    assert scaling_mismatch(pre, series_stats(torch.cat([ok[:8], fault[:8]]) * 50 + 100)) == [0]   # unscaled


def test_the_scaling_check_runs_again_on_new_training_data(udls, tmp_path, basic_motions, splits, dls):
    "It checked once per learner: new raw loaders on the same learner (or after load_learner) were never checked."
    from tsai.data.core import TSClassification, get_ts_dls
    w = _pretrained_file(udls, tmp_path)
    X, y = basic_motions[:2]
    learn, said = _scaling_warnings(lambda d: fineall_learner(d, w), dls)
    assert said == []
    learn.dls = get_ts_dls(X, y, splits=splits, tfms=[None, TSClassification()], bs=10)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter('always')
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert [str(r.message) for r in rec if 'scaled otherwise' in str(r.message)]


def test_the_scaling_warning_names_the_users_fit_and_is_not_shown_once_per_process(udls, tmp_path, basic_motions, splits):
    """Under Python's default filter a warning shows once per place: filed under the library's own line, only the first
    learner fine-tuned on unscaled data warned, and the next ones (FineAll after FineLast, load_learner) were silent."""
    from tsai.data.core import TSClassification, get_ts_dls
    w = _pretrained_file(udls, tmp_path)
    raw = get_ts_dls(*basic_motions[:2], splits=splits, tfms=[None, TSClassification()], bs=10)
    first, second = finelast_learner(raw, w), fineall_learner(raw, w)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter('default')
        with first.no_bar(), first.no_logging(): first.fit(1, 1e-3)
        with second.no_bar(), second.no_logging(): second.fit(1, 1e-3)
    said = [r for r in rec if 'scaled otherwise' in str(r.message)]
    assert len(said) == 2 and {r.filename for r in said} == {__file__}


def test_a_checkpoint_without_settings_is_named_at_the_users_line(dls, tmp_path):
    "The assumed-settings warning named transfer.py (finelast_learner) or contextlib.py (ts_learner), not the caller."
    path = tmp_path / 'ck.pth'
    torch.save(TimeMAE(6, None, **SMALL).state_dict(), path)                     # fastai's learn.save: no settings
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter('always')
        finelast_learner(dls, path, **SMALL)
        ts_learner(dls, TimeMAE, pretrained=True, weights_path=path, **SMALL)
    said = [r for r in rec if 'stores no architecture settings' in str(r.message)]
    assert said and {r.filename for r in said} == {__file__}


def test_no_scaling_warning_for_few_series_of_one_class_scaled_as_in_pretraining(basic_motions):
    "Standardised with the training statistics, any few test series (or one class's alone) are scaled as pretraining's."
    from tsai_timemae.weights import input_stats, scaling_mismatch, series_stats
    X, y, Xt, yt = basic_motions
    mu, sd = X.mean((0, 2), keepdims=True), X.std((0, 2), keepdims=True)
    pre = input_stats(series_stats(torch.tensor((X - mu) / sd)))
    for part in [Xt[:2], Xt[:8], Xt] + [Xt[yt == c] for c in np.unique(yt)]:
        assert scaling_mismatch(pre, series_stats(torch.tensor((part - mu) / sd))) == []
        assert len(scaling_mismatch(pre, series_stats(torch.tensor(part * 20 + 50)))) == 6   # other units: every channel
