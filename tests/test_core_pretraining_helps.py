"""The point of it all: on real data, a pretrained encoder gives a better linear probe than a random one."""
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
def test_pretrained_finelast_beats_random_finelast_on_har(tmp_path):
    """HAR subset: pretrain on 1500 unlabelled training series, linear probes on the same 1500 labels (validation:
    500 of HAR's validation series), scored on 1000 test series. Same seed, same probe, only the encoder differs."""
    d = {k: torch.load(HAR / f'{k}.pt', weights_only=True) for k in ('train', 'val', 'test')}
    idx = np.random.default_rng(0).permutation(len(d['train']['labels']))[:1500]
    X = np.concatenate([d['train']['samples'][idx].numpy(), d['val']['samples'][:500].numpy()])
    y = np.concatenate([d['train']['labels'][idx].numpy(), d['val']['labels'][:500].numpy()])
    splits = (list(range(1500)), list(range(1500, 2000)))
    X_test, y_test = d['test']['samples'][:1000].numpy(), d['test']['labels'][:1000].numpy()
    tfms = [TSStandardize(by_var=True)]

    set_seed(0, reproducible=True)
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False)
    pre = ts_learner(get_ts_dls(X, splits=splits, batch_tfms=tfms, bs=128), TimeMAE, cbs=cb, **ARCH)
    with pre.no_bar(), pre.no_logging(): pre.fit_one_cycle(10, 1e-3)
    random_weights = save_encoder_weights(TimeMAE(9, None, **ARCH), tmp_path / 'random.pth')

    dls = get_ts_dls(X, y, splits=splits, tfms=[None, TSClassification()], batch_tfms=tfms, bs=128)
    scores = {}
    for name, weights in (('pretrained', cb.weights_path), ('random', random_weights)):
        set_seed(0, reproducible=True)
        learn = finelast_learner(dls, weights, n_heads=4)
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(10, 1e-2)
        scores[name] = evaluate_learner(learn, X_test, y_test)
    print(scores)
    assert scores['pretrained']['accuracy'] > scores['random']['accuracy'] + 0.02, scores
    assert scores['pretrained']['macro_f1'] > scores['random']['macro_f1'], scores
