"""In CI (CI=true) a test whose data set is missing fails instead of skipping: a green CI run measured something."""

import subprocess
import sys

from conftest import REPO

PROBE = '''
from pathlib import Path
from conftest import needs_data

@needs_data(Path("/nonexistent/ragkit-data-set"), "probe data set")
def test_reads_the_data():
    assert False, "never reached: the data set is missing"
'''


def _run(tmp_path, ci: str):
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {"PATH": "/usr/bin:/bin", "CI": ci, "PYTHONPATH": f"{REPO / 'tests'}:{REPO}"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                           "-c", "/dev/null", "--confcutdir", str(REPO / "tests"), str(probe)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)


def test_a_missing_data_set_skips_with_its_reason_outside_ci(tmp_path):
    done = _run(tmp_path, "")
    assert done.returncode == 0 and "1 skipped" in done.stdout, done.stdout + done.stderr


def test_a_missing_data_set_fails_in_ci(tmp_path):
    done = _run(tmp_path, "true")
    assert done.returncode == 1 and "1 failed" in done.stdout, done.stdout
    assert "CI must have ../shared/datasets" in done.stdout
