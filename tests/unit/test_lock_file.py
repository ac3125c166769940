"""The lock files pin every dependency (hash-checked): requirements.lock what production runs, requirements-dev.lock
that plus the tools; `make` installed the environment from the latter."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s\\]+)", re.MULTILINE)
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCKS = {
    "requirements.lock": PROJECT["dependencies"],
    "requirements-dev.lock": [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["dev"]],
}


def _pins(lock: str) -> dict[str, Version]:
    text = (ROOT / lock).read_text()
    return {canonicalize_name(name.split("[")[0]): Version(version) for name, version in PIN.findall(text)}


@pytest.mark.parametrize("lock", LOCKS)
def test_every_declared_dependency_is_pinned_with_hashes(lock):
    pins = _pins(lock)
    unpinned = []
    for line in LOCKS[lock]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name not in pins or pins[name] not in requirement.specifier:
            unpinned.append(line)
    assert not unpinned, f"re-run `make lock`: {unpinned}"
    text = (ROOT / lock).read_text()
    hashed = re.findall(r"^\S+==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}", text, re.MULTILINE)
    assert len(hashed) == len(PIN.findall(text)) > 50


def test_production_runs_what_development_tests():
    production, development = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert {name: development.get(name) for name in production} == production


def test_the_environment_was_installed_from_the_lock():
    drift = {}
    for name, pinned in _pins("requirements-dev.lock").items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            continue  # pinned for another platform or Python (markers)
        if installed != pinned:
            drift[name] = (str(installed), str(pinned))
    assert not drift, f"installed ≠ pinned (run `make`): {drift}"
