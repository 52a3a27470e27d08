"""The notebooks in nbs/ are tested documentation: `make test` (what CI runs) runs `nbdev_test` after pytest."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_make_test_runs_the_notebooks():
    recipe = (ROOT / 'Makefile').read_text().split('\ntest:', 1)[1].split('\n\n', 1)[0]
    assert 'pytest' in recipe and 'nbdev_test' in recipe


def test_the_cli_notebook_passes_nbdev_test():
    "Its `if __name__ == '__main__'` line used to run under nbdev_test and parse nbdev_test's own arguments."
    nbdev_test = Path(sys.executable).parent / 'nbdev_test'
    r = subprocess.run([str(nbdev_test), '--path', str(ROOT / 'nbs' / '06_cli.ipynb')], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and 'Success' in r.stdout + r.stderr, r.stdout + r.stderr
