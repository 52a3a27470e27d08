"""The notebooks in nbs/ are tested documentation: `make test` (what CI runs) runs `nbdev_test` after pytest."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_make_test_runs_the_notebooks():
    recipe = (ROOT / 'Makefile').read_text().split('\ntest:', 1)[1].split('\n\n', 1)[0]
    assert 'pytest' in recipe and 'nbdev_test' in recipe
    for line in recipe.splitlines()[1:]:                                   # a failure must fail `make test`
        assert not line.strip().startswith('-') and '|| true' not in line and '; true' not in line, line


def test_the_cli_notebooks_main_line_is_not_run_by_nbdev_test():
    """Its `if __name__ == '__main__'` line used to run under nbdev_test and parse nbdev_test's own arguments. (Checked
    in the source: `make test` runs nbdev_test over every notebook anyway, so running it here again cost 12 s.)"""
    cells = json.loads((ROOT / 'nbs' / '06_cli.ipynb').read_text())['cells']
    main = [''.join(c['source']) for c in cells if "__name__ == '__main__'" in ''.join(c['source'])]
    assert main and all('#| eval: false' in src for src in main), main
