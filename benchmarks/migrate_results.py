"""Migrate `timemae bench` result files, and the pretraining caches they name, to result schema 2. Run once per
results folder; running it again changes nothing.

Schema 1 (written before this script existed, and by older checkouts still): every result file carried the run's whole
configuration (`config`: every method's settings), named the method with its tokenizer in it (`method`:
`timemae_fineall_kmeans`, `base_method`: `timemae_fineall`), and files made before a setting existed lacked it (they
ran with the value in `ADDED_LATER`). Cached encoders were named by a hash that left such settings out.

Schema 2: `method` is the method that ran, `name` the name of its rows and files, `settings` the method's settings
object (`tsai_timemae.bench.method_settings`), `quick` and `overrides` what the report's flags and regenerate commands
are built from; a cached encoder is named by the hash of its pretraining's settings object, the data set and the seed
(`bench.cache_path`). The report (`timemae bench --report-only`) reads the same from both.

    python benchmarks/migrate_results.py        # every `timemae bench` results folder under benchmarks/, and its cache
    python benchmarks/migrate_results.py --out-dir DIR [DIR ...] --cache-dir DIR [DIR ...]

Cached encoders are renamed where the records that used them say which they were: a schema 1 record's
`pretraining.weights`, kept in a migrated record as `pretraining.schema1_stem`, so caches can be migrated after their
results (point `--cache-dir` at them and run again). The transfer study's own records
(`<out-dir>/transfer/results`, written by benchmarks/transfer.py, not read by `timemae bench`) are left as they are;
their target pretrainings are renamed in the cache like the others. Do not rename a cache that a running benchmark of
an older checkout is still reading: it would pretrain again.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tsai_timemae import bench  # noqa: E402

# settings added after results were committed, with the value those earlier runs used
ADDED_LATER = {'pretrain_inputs': 'train', 'normalize_targets': False, 'readout': 'mean'}


def _jsonable(obj):
    "As the record would read back from its file."
    return json.loads(json.dumps(obj, default=str))


def _uses(cfg: dict, method: str, key: str) -> bool:
    "Whether `method`'s settings depend on the configuration's `key` (changing it changes them)."
    return bench.method_settings({**cfg, key: object()}, method) != bench.method_settings(cfg, method)


def schema1_overrides(cfg: dict, method: str) -> dict:
    """What a schema 1 run set on top of its data set's configuration, as schema 2 records it: the settings it was
    given, those its tokenizer implies (for a method that pretrains TimeMAE), and a setting added after it ran whose
    value then is not today's default (so the report still says `changed: pretrain_inputs=train`)."""
    out = dict(cfg.get('overrides', {}))
    if method in bench.TOKENIZED:
        out.update({k: v for k, v in bench.TOKENIZER_SETTINGS.get(cfg['tokenizer'], {}).items() if k not in out})
    for k, v in ADDED_LATER.items():
        if k not in cfg and v != bench.DEFAULTS[k] and _uses({**ADDED_LATER, **cfg}, method, k): out[k] = v
    return out


def migrate_record(old: dict) -> dict:
    "A schema 1 result record in schema 2 (a schema 2 record is returned as it is)."
    if old.get('schema') == bench.RESULT_SCHEMA: return old
    method = old['base_method']
    cfg = {**ADDED_LATER, **old['config']}
    settings = bench.method_settings(cfg, method)
    name = bench.run_name(method, settings)
    if name != old['method']:
        raise ValueError(f"{old['dataset']} seed {old['seed']}: recorded as {old['method']!r}, but its settings name it {name!r}")
    new = {}
    for k, v in old.items():
        if k == 'dataset': new.update(schema=bench.RESULT_SCHEMA, dataset=v)
        elif k == 'method': new.update(method=method, name=name)
        elif k == 'base_method': continue
        elif k == 'config':
            new.update(settings=_jsonable(asdict(settings)), quick=bool(cfg.get('quick')),
                       overrides=schema1_overrides(old['config'], method))
        elif k == 'pretraining' and v:
            new[k] = _moved_pretraining(v, settings.pretraining, old['data'], old['seed'])
        else: new[k] = v
    return new


def _moved_pretraining(pre: dict, settings, data: dict, seed: int) -> dict:
    "The record of a pretraining whose cached files are named anew: `weights` under the new name, the old stem kept."
    old = Path(pre['weights'])
    stem = bench.cache_path('.', data['name'], data['source'], settings, seed).name
    return {**pre, 'weights': str(old.with_name(stem + old.suffix)), 'schema1_stem': old.stem}


def rename_cached(cache_dir, dataset: str, old_stem: str, new_stem: str, dry_run: bool = False) -> list[Path]:
    "Rename a cached encoder and its record (`.pth`, `.json`) from the old name to the new one, where not done yet."
    folder, done = Path(cache_dir) / bench.dataset_key(dataset), []
    for suffix in ('.pth', '.json'):
        src, dst = folder / f'{old_stem}{suffix}', folder / f'{new_stem}{suffix}'
        if src.is_file() and not dst.exists():
            if not dry_run: src.rename(dst)
            done.append(dst)
    return done


def _transfer_renames(out_dir: Path):
    "(dataset, old stem, new stem) of the target pretrainings that benchmarks/transfer.py recorded."
    for p in sorted((out_dir / 'transfer' / 'results').glob('*/*_seed*.json')):
        r = json.loads(p.read_text())
        if r.get('pretraining') and r.get('target_config') and r['method'].startswith('self_'):
            settings = bench.timemae_pretraining(r['target_config'])
            new = bench.cache_path('.', r['data']['name'], r['data']['source'], settings, r['seed']).name
            yield r['data']['name'], Path(r['pretraining']['weights']).stem, new


def migrate(out_dir='benchmarks', cache_dirs=None, dry_run: bool = False) -> dict:
    "Migrate every result file under `<out_dir>/results` and rename the caches they name; returns what it did."
    out_dir = Path(out_dir)
    cache_dirs = [out_dir / 'cache'] if cache_dirs is None else [Path(c) for c in cache_dirs]
    files, renamed, renames = [], [], []
    for p in sorted((out_dir / 'results').glob('*/*_seed*.json')):
        old = json.loads(p.read_text())
        try: new = migrate_record(old)
        except KeyError as e:
            raise ValueError(f'{p} lacks the setting {e} its method uses: add the value it ran with to ADDED_LATER') from None
        if new is not old:
            files.append(p)
            if not dry_run: bench.write_json_atomic(new, p)
        pre = new.get('pretraining')
        if pre and pre.get('schema1_stem'): renames.append((new['dataset'], pre['schema1_stem'], Path(pre['weights']).stem))
    renames += list(_transfer_renames(out_dir))
    for dataset, old_stem, new_stem in dict.fromkeys(renames):
        for c in cache_dirs: renamed += rename_cached(c, dataset, old_stem, new_stem, dry_run)
    return {'migrated': files, 'renamed': renamed}


def bench_out_dirs(root='benchmarks') -> list[Path]:
    "The `timemae bench --out-dir` folders under `root`: those with a results/ folder, except the transfer study's."
    return [p.parent for p in sorted(Path(root).glob('**/results')) if p.is_dir() and p.parent.name != 'transfer']


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out-dir', nargs='+', help='`timemae bench --out-dir` folders (holding results/; default: every one '
                   'under benchmarks/, e.g. benchmarks and benchmarks/extra/HAR_100ep)')
    p.add_argument('--cache-dir', nargs='+', help='cache folders to rename encoders in (default: <out-dir>/cache)')
    p.add_argument('--dry-run', action='store_true', help='say what would change, change nothing')
    args = p.parse_args(argv)
    for out in args.out_dir or bench_out_dirs():
        cache_dirs = args.cache_dir or [Path(out) / 'cache']
        done = migrate(out, cache_dirs, args.dry_run)
        verb = 'would migrate' if args.dry_run else 'migrated'
        print(f"{out}: {verb} {len(done['migrated'])} result files and {len(done['renamed'])} cache files "
              f"in {', '.join(map(str, cache_dirs))}")


if __name__ == '__main__':
    main()
