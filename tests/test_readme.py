"""The README stays true: its first commands, and its plugin example is exactly the tested fixture."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FIXTURE = ROOT / "tests" / "fixtures" / "llmgym-plugin-example"


def code_blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, re.DOTALL)


def test_readme_opens_with_the_two_commands():
    first = code_blocks("bash")[0].splitlines()
    assert [line.split("#")[0].strip() for line in first] == ["make train", "make test"]
    assert README.index("```bash") < README.index("\n## ")


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_plugin_example_in_readme_is_the_installed_fixture():
    assert (FIXTURE / "pyproject.toml").read_text() in code_blocks("toml")
    assert (FIXTURE / "llmgym_plugin_example" / "__init__.py").read_text() in code_blocks("python")
