"""A non-editable wheel, installed in a fresh venv, runs `iacorch plan` against a moto server."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("dist")
    source = tmp_path_factory.mktemp("src") / "iacorch"
    # build from a clean copy of the tracked files, so nothing of this checkout's state leaks in
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
                   check=True)
    return next(out.glob("iacorch-*.whl"))


def test_wheel_ships_providers_and_templates(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "providers/aws/__init__.py" in names
    assert "providers/local/__init__.py" in names
    assert any(n.startswith("templates/vm/") for n in names)
    assert "moto_fixtures/aws.py" in names


@pytest.mark.usefixtures("aws")
def test_installed_wheel_plans_against_moto(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", f"{wheel}[aws]"], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(py), "-c", "import iacorch, providers, templates; print(iacorch.__file__,"
                            " providers.__file__, templates.__file__)"], capture_output=True, text=True,
                           cwd=tmp_path, env=env, check=True).stdout
    assert str(ROOT) not in where and str(venv) in where
    result = subprocess.run([str(venv / "bin" / "iacorch"), "plan", str(ROOT / "stacks" / "aws-web.yaml"),
                             "--detailed-exitcode"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    # the VM side, and Docker, images and replicas on it: the same plan as the source tree makes
    source = subprocess.run([sys.executable, "-m", "iacorch.cli", "plan", str(ROOT / "stacks" / "aws-web.yaml")],
                            capture_output=True, text=True, cwd=ROOT, env=env)
    assert source.returncode == 0, source.stderr
    assert "+ service.web[2]" in result.stdout and "+ launch_template.node" in result.stdout
    assert result.stdout == source.stdout
