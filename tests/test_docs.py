"""The documentation site builds with ``mkdocs build --strict``: no broken link or page.
(Not ``-q``: mkdocs counts the warnings that strict mode turns into errors from its log.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MKDOCS = [sys.executable, "-m", "mkdocs"]


def build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([*MKDOCS, "build", "--strict", "-f", str(root / "mkdocs.yml"), "-d", str(site)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=root)


def copy_of_the_docs(into: Path) -> Path:
    into.mkdir()
    for name in ("mkdocs.yml", "README.md"):
        shutil.copy(ROOT / name, into / name)
    shutil.copytree(ROOT / "docs", into / "docs")
    (into / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "mkdocs_hooks.py", into / "scripts" / "mkdocs_hooks.py")
    return into


def test_the_site_builds_strictly_with_the_readme_as_its_home_page(tmp_path):
    done = build(ROOT, tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    home = (tmp_path / "site" / "index.html").read_text()
    assert "Creating the Slack app" in home and 'href="settings/"' in home


def test_a_broken_link_fails_the_build(tmp_path):
    root = copy_of_the_docs(tmp_path / "copy")
    with (root / "docs" / "features.md").open("a") as page:
        page.write("\nSee [the missing page](missing.md).\n")
    done = build(root, tmp_path / "site")
    assert done.returncode != 0 and "missing.md" in done.stdout + done.stderr
