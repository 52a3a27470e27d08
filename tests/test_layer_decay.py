"""Discriminative learning rates for fine-tuning: `timemae_splitter` (one parameter group per block) reaches the
learner despite tsai's own splitter, and `layer_decay` gives each group down from the head `decay` times the rate."""
import pytest
import torch

from tsai_timemae.all import (TimeMAE, fineall_learner, finelast_learner, layer_decay, save_encoder_weights,
                              timemae_learner, timemae_splitter)
from conftest import SMALL


@pytest.fixture
def weights(tmp_path):
    return save_encoder_weights(TimeMAE(6, None, **SMALL), tmp_path / 'enc.pth')


def test_groups_are_embeddings_each_block_then_head_and_cover_every_parameter_once():
    m = TimeMAE(6, 4, **{**SMALL, 'n_layers': 3})
    groups = timemae_splitter(m)
    assert len(groups) == 3 + 2
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in m.parameters()}
    name = {id(p): n for n, p in m.named_parameters()}
    assert {name[id(p)] for p in groups[0]} == {'backbone.pos_embed', 'backbone.patch_embed.proj.weight',
                                                'backbone.patch_embed.proj.bias'}
    for i, g in enumerate(groups[1:-1]):
        assert {name[id(p)].split('.')[3] for p in g} == {str(i)}           # backbone.encoder.layers.<i>.*
    assert all(name[id(p)].startswith('head.') for p in groups[-1])
    assert len(timemae_splitter(TimeMAE(6, None, **SMALL))) == SMALL['n_layers'] + 1  # no head, no head group


@pytest.mark.parametrize('make', [timemae_learner, fineall_learner, finelast_learner])
def test_the_splitter_given_is_the_one_the_optimizer_uses(dls, weights, make):
    "ts_learner replaces any splitter of a model with a backbone and a head by its own two groups; this one stays."
    args = (dls,) if make is timemae_learner else (dls, weights)
    arch = SMALL if make is timemae_learner else dict(n_heads=2)
    learn = make(*args, **arch, splitter=timemae_splitter)
    learn.create_opt()
    assert learn.splitter is timemae_splitter and len(learn.opt.param_groups) == SMALL['n_layers'] + 2
    learn = make(*args, **arch)
    learn.create_opt()
    assert len(learn.opt.param_groups) == 2                                 # tsai's encoder / head, unchanged


def test_the_splitter_given_survives_reinit(dls, weights):
    learn = fineall_learner(dls, weights, n_heads=2, window=5, reinit='patch_embed', splitter=timemae_splitter)
    learn.create_opt()
    assert len(learn.opt.param_groups) == SMALL['n_layers'] + 2


def test_each_group_down_from_the_head_gets_decay_times_the_rate(dls, weights):
    learn = fineall_learner(dls, weights, n_heads=2, splitter=timemae_splitter)
    lr = layer_decay(learn, 1e-3, 0.5)
    assert lr == slice(1e-3 * 0.5 ** 3, 1e-3)                              # 4 groups: embeddings, 2 blocks, head
    learn.create_opt()
    learn.opt.set_hyper('lr', lr)                                           # what fit_one_cycle does with a slice
    got = [h['lr'] for h in learn.opt.hypers]
    assert got == pytest.approx([1.25e-4, 2.5e-4, 5e-4, 1e-3])
    assert layer_decay(learn, 1e-3, 1) == slice(1e-3, 1e-3)


def test_layer_decay_moves_the_embeddings_less_than_the_last_block(dls, weights):
    "With a strong decay the lowest group barely trains; without one it trains at the head's rate."
    def moved(decay):
        torch.manual_seed(0)
        learn = fineall_learner(dls, weights, n_heads=2, splitter=timemae_splitter)
        bb = learn.model.backbone
        before = bb.patch_embed.proj.weight.detach().clone(), bb.encoder.layers[-1].linear1.weight.detach().clone()
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(2, layer_decay(learn, 1e-2, decay))
        return [(a - p.detach()).abs().mean().item() for a, p in zip(before, (bb.patch_embed.proj.weight, bb.encoder.layers[-1].linear1.weight))]
    (emb, last), (emb1, last1) = moved(0.01), moved(1.)
    assert emb < last / 100 and emb < emb1 / 100


def test_finelast_keeps_its_encoder_frozen_with_the_splitter(dls, weights):
    learn = finelast_learner(dls, weights, n_heads=2, splitter=timemae_splitter)
    enc = {k: v.clone() for k, v in learn.model.state_dict().items() if k.startswith('backbone.')}
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, layer_decay(learn, 1e-2, 0.5))
    for k, v in enc.items(): assert torch.equal(v, learn.model.state_dict()[k]), k


@pytest.mark.parametrize('decay', [0, -0.5, 1.5, True, '0.7', None])
def test_a_decay_outside_0_1_is_refused(dls, weights, decay):
    learn = fineall_learner(dls, weights, n_heads=2, splitter=timemae_splitter)
    with pytest.raises(ValueError, match=r'decay must be a number in \(0, 1\]'):
        layer_decay(learn, 1e-3, decay)


def test_layer_decay_without_the_splitter_names_it(dls, weights):
    learn = fineall_learner(dls, weights, n_heads=2)
    with pytest.raises(ValueError, match=r'gives 2 parameter group\(s\).*splitter=timemae_splitter'):
        layer_decay(learn, 1e-3, 0.65)
