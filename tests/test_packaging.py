"""The plugin folders ship as llmgym.envs/rewards/policies and never as bare top-level packages."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_plugin_folders_under_llmgym_only(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("llm_gym-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "llmgym/envs/__init__.py" in names and "llmgym/rewards/__init__.py" in names
    assert "llmgym/policies/__init__.py" in names and "llmgym/cli.py" in names
    assert not [n for n in names if n.split("/")[0] in ("envs", "rewards", "policies", "tests")]
    assert "llmgym/algorithms/__init__.py" in names and not [n for n in names if n.startswith("algorithms/")]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "builtin_algorithms = llmgym.algorithms" in text
    assert "[llmgym]" in text and "llmgym.envs" in text and "llmgym = llmgym.cli:main" in text

    # The wheel works on its own: unpacked ahead of the editable install on sys.path, its copy is used.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import llmgym, llmgym.envs; from llmgym.cli import main;"
            "assert llmgym.envs.__file__.startswith(%r), llmgym.envs.__file__;"
            "raise SystemExit(main(['list', 'envs', '--json']))" % str(site))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(site)})
    assert proc.returncode == 0, proc.stderr
    assert '"name": "math"' in proc.stdout


def test_plugin_folders_are_not_importable_bare(tmp_path):
    code = ("import importlib.util, sys\n"
            "bare = [m for m in ('envs', 'rewards', 'policies') if importlib.util.find_spec(m)]\n"
            "import llmgym.envs, llmgym.rewards, llmgym.policies\n"
            "assert llmgym.envs.__name__ == 'llmgym.envs'\n"
            "print(','.join(bare))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_import_llmgym_is_light():
    code = ("import sys, llmgym; llmgym.Gym().registry('envs');"
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'datasets', 'accelerate') if m in sys.modules];"
            "print(','.join(heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
