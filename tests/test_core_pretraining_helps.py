"""The point of it all: on real data, a pretrained encoder gives a better linear probe (FineLast) than random ones."""
from pathlib import Path

import numpy as np
import pytest
import torch
from fastai.torch_core import set_seed
from tsai.all import TSClassification, TSStandardize, get_ts_dls, ts_learner

from tsai_timemae.all import TimeMAE, TimeMAEPretrain, evaluate_learner, finelast_learner, save_encoder_weights

HAR = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'HAR'
ARCH = dict(window=8, d_model=64, n_layers=4, n_heads=4, d_ff=128)


@pytest.mark.skipif(not (HAR / 'train.pt').is_file(), reason=f'HAR not found at {HAR} (see ../shared/data/README.md)')
@pytest.mark.xfail(strict=False, reason=(
    'Known gap (issue 2 stays open): with this protocol the pretrained probe scored 0.77-0.82 over pretraining seeds '
    '0-2 at both 10 and 20 epochs (0.78-0.85 in earlier single runs), random encoders 0.79-0.84 (mean 0.81): '
    'at this budget pretraining does not beat random features. Kept so the gap stays visible; remove the xfail '
    'once pretraining reliably wins.'))
def test_pretrained_finelast_beats_random_finelast_on_har(tmp_path):
    """HAR subset: pretrain on 1500 unlabelled training series; FineLast probes on the same 1500 labels (validation:
    500 of HAR's validation series), scored on 1000 test series. The probe is trained to convergence (lr 0.1,
    60 epochs; at lr 0.01 for 10 epochs every encoder, random ones included, scores about the same). The pretrained
    encoder must beat the mean of three random encoders by 2 points, and beat each of them."""
    d = {k: torch.load(HAR / f'{k}.pt', weights_only=True) for k in ('train', 'val', 'test')}
    idx = np.random.default_rng(0).permutation(len(d['train']['labels']))[:1500]
    X = np.concatenate([d['train']['samples'][idx].numpy(), d['val']['samples'][:500].numpy()])
    y = np.concatenate([d['train']['labels'][idx].numpy(), d['val']['labels'][:500].numpy()])
    splits = (list(range(1500)), list(range(1500, 2000)))
    X_test, y_test = d['test']['samples'][:1000].numpy(), d['test']['labels'][:1000].numpy()
    tfms = [TSStandardize(by_var=True, use_single_batch=False)]

    set_seed(0, reproducible=True)
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False)
    pre = ts_learner(get_ts_dls(X, splits=splits, batch_tfms=tfms, bs=32), TimeMAE, cbs=cb, **ARCH)
    with pre.no_bar(), pre.no_logging(): pre.fit_one_cycle(10, 1e-3)
    encoders = {'pretrained': cb.weights_path}
    for s in range(3):
        torch.manual_seed(100 + s)
        encoders[f'random{s}'] = save_encoder_weights(TimeMAE(9, None, **ARCH), tmp_path / f'random{s}.pth')

    dls = get_ts_dls(X, y, splits=splits, tfms=[None, TSClassification()], batch_tfms=tfms, bs=64)
    scores = {}
    for name, weights in encoders.items():
        set_seed(0, reproducible=True)
        learn = finelast_learner(dls, weights, n_heads=4)
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(60, 1e-1)
        scores[name] = evaluate_learner(learn, X_test, y_test)
    print(scores)
    pre_acc, rand_acc = scores['pretrained']['accuracy'], [scores[f'random{s}']['accuracy'] for s in range(3)]
    assert pre_acc > np.mean(rand_acc) + 0.02, scores
    assert pre_acc > max(rand_acc), scores
    assert scores['pretrained']['macro_f1'] > np.mean([scores[f'random{s}']['macro_f1'] for s in range(3)]), scores
