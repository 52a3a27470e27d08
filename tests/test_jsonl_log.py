"""`benchmarks/jsonl_log.py`: the ablation scripts' one-line-per-run result files are never left with a torn line that
the next record would be glued onto."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'benchmarks'))
import jsonl_log  # noqa: E402


def test_records_are_added_whole_and_a_torn_line_stays_apart(tmp_path, capsys):
    path = tmp_path / 'runs.jsonl'
    jsonl_log.log_record({'run': 1}, path)
    jsonl_log.log_record({'run': 2}, path)
    assert jsonl_log.read_records(path) == [{'run': 1}, {'run': 2}]
    assert capsys.readouterr().out.splitlines() == ['{"run": 1}', '{"run": 2}']
    path.write_text(path.read_text() + '{"run": 3, "acc')        # an older writer stopped mid-line
    jsonl_log.log_record({'run': 4}, path)
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1]) == {'run': 4} and lines[2] == '{"run": 3, "acc'  # run 4 is not glued onto it
    with pytest.raises(ValueError, match='line 3 of .* is not JSON .*Delete that line'):
        jsonl_log.read_records(path)


def test_a_write_that_stops_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    from tsai_timemae.weights import atomic_write
    path = tmp_path / 'runs.jsonl'
    jsonl_log.log_record({'run': 1}, path)
    before = path.read_bytes()
    def stopped(p, write, *a):                                      # the writer is stopped half-way through
        def half(f):
            f.write(b'{"run": 2, "ha')
            raise KeyboardInterrupt
        return atomic_write(p, half)
    monkeypatch.setattr(jsonl_log, 'atomic_write', stopped)
    with pytest.raises(KeyboardInterrupt): jsonl_log.log_record({'run': 2}, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ['runs.jsonl']


def test_scripts_side_by_side_lose_no_record(tmp_path):
    "Two writers into one file: each rewrite started from a file without the other's last record (416 of 600 kept)."
    import subprocess
    import sys
    path = tmp_path / 'runs.jsonl'
    code = ("import sys; sys.path.insert(0, {!r}); import jsonl_log\n"
            "for i in range(300): jsonl_log.log_record({{'w': sys.argv[1], 'i': i}}, {!r})\n").format(
                os.path.join(os.path.dirname(__file__), '..', 'benchmarks'), str(path))
    procs = [subprocess.Popen([sys.executable, '-c', code, w], stdout=subprocess.DEVNULL) for w in 'ab']
    assert all(p.wait(timeout=120) == 0 for p in procs)
    records = jsonl_log.read_records(path)
    assert len(records) == 600 and {(r['w'], r['i']) for r in records} == {(w, i) for w in 'ab' for i in range(300)}
