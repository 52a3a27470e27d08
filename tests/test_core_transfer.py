"""FineLast (a true linear probe), FineAll, export/load, and the point of it all: pretraining helps."""
import numpy as np
import pytest
import torch
from fastai.learner import load_learner
from tsai.all import ts_learner

from tsai_timemae.all import (TimeMAE, TimeMAEPretrain, fineall_learner, finelast_learner,
                              save_encoder_weights)
from conftest import SMALL, assert_same_state


def _enc(m): return {k: v.clone() for k, v in m.state_dict().items() if k.startswith('backbone.')}


@pytest.fixture
def weights(tmp_path):
    return save_encoder_weights(TimeMAE(6, None, **SMALL), tmp_path / 'enc.pth')


def test_finelast_changes_no_encoder_value_norm_layers_included(dls, weights):
    learn = finelast_learner(dls, weights, n_heads=2)
    learn.unfreeze()                                                        # even after a user's unfreeze()
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
    assert isinstance(again.model, TimeMAE)
    assert_same_state(_enc(again.model), _enc(pre.model))
