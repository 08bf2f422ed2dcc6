"""The package as users install it: a wheel (not an editable install) in a fresh virtual
environment carries everything `certaudit run` needs, templates included."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.test_run_lab import run_cli

ROOT = Path(__file__).resolve().parents[1]


def _packages_on_disk() -> set[str]:
    """Every folder under audit/ that holds Python modules or shipped data."""
    found = set()
    for path in (ROOT / "audit").rglob("*"):
        if (
            path.is_file()
            and path.suffix in (".py", ".sh", ".json")
            and "__pycache__" not in path.parts
        ):
            found.add(".".join(path.parent.relative_to(ROOT).parts))
    return found


def test_every_package_is_listed_and_the_templates_ship_inside_it() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    listed = set(config["packages"])
    assert listed - {"audit.report.templates"} == _packages_on_disk()
    assert config["package-dir"]["audit.report.templates"] == "report_templates"
    assert (ROOT / "report_templates" / "report.html.j2").is_file()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install` of a freshly built wheel into a new virtual environment; its bin/."""
    work = tmp_path_factory.mktemp("wheel")
    build = work / "src"
    shutil.copytree(
        ROOT,
        build,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "*.egg-info", "__pycache__", "reports"
        ),
    )
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(build)],
        check=True,
        timeout=600,
    )
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    (wheel,) = (work / "dist").glob("certaudit-*.whl")
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, timeout=900
    )
    return venv / "bin"


@pytest.mark.slow
def test_the_installed_wheel_writes_all_four_reports_from_the_lab(
    installed: Path, make_lab, tmp_path: Path
) -> None:
    lab = make_lab(["web1"], same_files=True)
    out = tmp_path / "out"
    proc = run_cli(lab, out, tmp_path / "history.db", executable=[str(installed / "certaudit")])
    assert proc.returncode in (0, 1), proc.stderr.decode()
    assert sorted(p.name for p in out.iterdir()) == [
        "findings.json",
        "manifest.json",
        "metrics.prom",
        "report.html",
        "report.xlsx",
    ]
    verify = subprocess.run(
        [str(installed / "certaudit"), "verify", str(out)], capture_output=True, text=True
    )
    assert verify.returncode == 0 and "verified" in verify.stdout, verify.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<html" in page and "web1" in page
    # the code that ran is the wheel's, not this checkout's
    where = subprocess.run(
        [str(installed / "python"), "-c", "import audit; print(audit.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert "site-packages" in where and str(ROOT) not in where
