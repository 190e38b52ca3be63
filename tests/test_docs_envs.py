"""docs/envs.md stays true: its table of contents lists every section, every code block of its
general part is marked `<!-- tested -->`, and the marked blocks run: the python ones in order as one
script, the shell ones in a throwaway venv (the package `llmgym new env` writes is installed there)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from test_scaffold import throwaway_venv

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "envs.md"
MARK = "<!-- tested -->"
# Sections after the general part belong to one env each (dataset, catalogs); they test themselves.
GENERAL_ENDS = "## `dataset`"


def parse(text: str) -> tuple[list[dict], list[tuple[int, int, str]]]:
    """(code blocks: lang, first code line, code, marked, line of the fence), (headings: level, line, title)."""
    lines = text.splitlines()
    blocks, headings, i = [], [], 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            blocks.append({"lang": fence.group(1), "line": i + 2, "code": "\n".join(lines[i + 1:end]) + "\n",
                           "marked": i > 0 and lines[i - 1].strip() == MARK, "fence": i + 1})
            i = end + 1
            continue
        heading = re.match(r"^(#{2,3}) (.+)$", lines[i])
        if heading:
            headings.append((len(heading.group(1)), i + 1, heading.group(2)))
        i += 1
    return blocks, headings


def slug(title: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


TEXT = DOC.read_text()
BLOCKS, HEADINGS = parse(TEXT)
GENERAL_END = TEXT[:TEXT.index(GENERAL_ENDS)].count("\n") + 1


def test_the_table_of_contents_lists_every_section_and_each_link_resolves():
    contents = TEXT[TEXT.index("**Contents**"):TEXT.index("\n## ")]
    links = re.findall(r"\]\(#([^)]+)\)", contents)
    assert sorted(links) == sorted(slug(title) for _, _, title in HEADINGS), \
        "docs/envs.md: add each ## and ### heading to the Contents list at the top"


def test_every_code_block_of_the_general_part_is_tested():
    untested = [b["fence"] for b in BLOCKS if b["fence"] < GENERAL_END and not b["marked"]]
    assert not untested, f"docs/envs.md: code blocks at lines {untested} are not marked {MARK}"
    assert {b["lang"] for b in BLOCKS if b["marked"]} <= {"python", "bash"}


RUNNER = """
import json, sys, types
doc, blocks = sys.argv[1], json.load(open(sys.argv[2]))
module = types.ModuleType("docs_envs")  # one namespace, as a reader's script or notebook has
sys.modules[module.__name__] = module
for line, code in blocks:
    # Padded so that a traceback names the line of docs/envs.md.
    exec(compile("\\n" * (line - 1) + code, doc, "exec"), module.__dict__)
print(f"ran {len(blocks)} blocks")
"""


def test_the_python_blocks_run_in_order_as_one_script(tmp_path):
    blocks = [(b["line"], b["code"]) for b in BLOCKS if b["marked"] and b["lang"] == "python"]
    assert len(blocks) >= 7  # single-turn env, options, splits, tool, reward in another rubric, versions, data
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(DOC), str(tmp_path / "blocks.json")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and f"ran {len(blocks)} blocks" in proc.stdout, proc.stderr[-3000:]


# The shell blocks' commands, offline and inside the throwaway venv: pip installs without fetching
# anything, and the project's own commands run on the venv's python.
WRAPPERS = {
    "pip": 'exec "$(dirname "$0")/python" -m pip "$@" --no-deps --no-build-isolation --no-index -q',
    "pytest": 'exec "$(dirname "$0")/python" -m pytest -p no:cacheprovider -q "$@"',
    "llmgym": 'exec "$(dirname "$0")/python" -m llmgym.cli "$@"',
}


def test_the_shell_blocks_run_in_a_throwaway_venv(tmp_path):
    scripts = [b["code"] for b in BLOCKS if b["marked"] and b["lang"] == "bash"]
    assert any("llmgym new env" in s for s in scripts)
    python = throwaway_venv(tmp_path / "venv")
    for name, body in WRAPPERS.items():
        wrapper = python.parent / name
        wrapper.write_text(f"#!/bin/sh\n{body}\n")
        wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("LLMGYM_DISABLE_PLUGIN_AUTOLOAD", "PYTHONPATH")}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    work = tmp_path / "work"
    work.mkdir()
    for script in scripts:
        proc = subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "my_task  (from llmgym-my-task)" in proc.stdout and "passed" in proc.stdout
