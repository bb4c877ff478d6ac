"""The offline quickstart's ``env.sh`` survives paths with quotes, spaces and shell syntax."""
from __future__ import annotations

import subprocess

from book_assets.quickstart import write_env_file


def test_env_file_sources_in_bash_with_awkward_paths(tmp_path, monkeypatch):
    home = tmp_path / "o'brien's $HOME `x` \"books\"" / "data"
    dagster_home = tmp_path / "it's dagster"
    (home / "demo").mkdir(parents=True)
    monkeypatch.setenv("BOOK_ASSETS_HOME", str(home))
    monkeypatch.setenv("BOOK_ASSETS_YEARS", "2019,2021-2023")
    env_file = write_env_file(home, dagster_home)
    script = 'set -e; source "$1"; printf "%s\\n" "$BOOK_ASSETS_HOME" "$BOOK_ASSETS_YEARS" "$DAGSTER_HOME"'
    result = subprocess.run(["bash", "-c", script, "bash", str(env_file)], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(home), "2019,2021-2023", str(dagster_home)]
