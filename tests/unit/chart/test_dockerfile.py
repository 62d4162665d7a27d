"""The Dockerfile's invariants, read from its text: multi-stage, pinned hashed locks, non-root, the
entrypoint, and a lock that covers pyproject. tests/image builds it (testbed/build-image.sh) and runs it."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements" / "runtime.txt"
BUILD_LOCK = ROOT / "requirements" / "build.txt"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Instructions per stage, continuation lines joined; ARGs before the first FROM resolved."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    joined = re.sub(r"\\\n", " ", text)
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            key, _, default = rest.partition("=")
            args[key] = default
        elif keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        else:
            stages[-1].instructions.append((keyword, " ".join(rest.split())))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text())[1]


def test_the_image_is_built_in_stages_on_slim_bookworm_python_311(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    assert all(s.base == "python:3.11-slim-bookworm" for s in stages)
    assert stages[0].name == "builder"


def test_dependencies_are_installed_only_from_the_hashed_locks(stages: list[Stage]) -> None:
    runs = " && ".join(stages[0].all("RUN"))
    installs = [c.strip() for c in runs.split("&&") if "pip install" in c]
    assert installs
    for command in installs:
        # Either from a lock with every hash checked, or the project's own wheel without its deps.
        from_lock = "--require-hashes" in command and re.search(
            r"-r requirements/\w+\.txt", command
        )
        own_wheel = "--no-deps" in command and "/wheels/model_rollout-" in command
        assert from_lock or own_wheel, f"unpinned install in the builder: {command}"
    assert any("-r requirements/runtime.txt" in c for c in installs)
    assert "--no-build-isolation" in runs, "an isolated build would fetch unpinned setuptools"


def test_the_final_stage_runs_as_a_numeric_non_root_user_without_build_tools(
    stages: list[Stage],
) -> None:
    final = stages[-1]
    users = final.all("USER")
    assert users, "the final stage must name its USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), "runAsNonRoot can only verify a numeric uid"
    assert int(uid) != 0
    assert not gid or int(gid) != 0
    assert not final.all("RUN"), (
        "the final stage installs nothing: no compilers, no package manager"
    )
    copies = final.all("COPY")
    assert any(c.startswith("--from=builder /opt/venv") for c in copies)


def test_the_entrypoint_is_model_rollout_and_runs_the_operator_by_default(
    stages: list[Stage],
) -> None:
    final = stages[-1]
    assert final.all("ENTRYPOINT") == ['["model-rollout"]']
    assert final.all("CMD") == ['["operator"]']
    env = " ".join(final.all("ENV"))
    assert "PATH=/opt/venv/bin:$PATH" in env


def test_the_demo_models_are_built_where_the_example_manifests_point(stages: list[Stage]) -> None:
    placeholder = "/opt/model-rollout/examples"
    assert placeholder in (ROOT / "examples" / "localize.py").read_text()
    assert any(f"make_models.py --out {placeholder}" in run for run in stages[0].all("RUN"))
    assert any(c.startswith(f"--from=builder {placeholder}") for c in stages[-1].all("COPY"))


def test_the_build_context_keeps_everything_the_dockerfile_copies(stages: list[Stage]) -> None:
    kept = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for stage in stages:
        for copy in stage.all("COPY"):
            if copy.startswith("--from="):
                continue
            for source in (s.rstrip("/") for s in copy.split()[:-1]):
                assert any(source == k or source.startswith(k + "/") for k in kept), (
                    f"COPY {source} is excluded by .dockerignore"
                )


def _pins(lock: Path) -> dict[str, list[str]]:
    """name -> hashes of each `name==version` entry of a pip-compile lock."""
    pins: dict[str, list[str]] = {}
    for entry in (raw.strip() for raw in re.sub(r"\\\n", " ", lock.read_text()).splitlines()):
        if not entry or entry.startswith("#"):
            continue
        requirement = entry.split()[0]
        assert "==" in requirement, f"{lock.name}: {requirement} is not pinned to one version"
        name = canonicalize_name(requirement.split("==")[0])
        pins[name] = re.findall(r"--hash=sha256:[0-9a-f]{64}", entry)
    return pins


@pytest.mark.parametrize("lock", [LOCK, BUILD_LOCK], ids=lambda p: p.name)
def test_every_pin_in_the_locks_carries_hashes(lock: Path) -> None:
    pins = _pins(lock)
    assert pins
    unhashed = [name for name, hashes in pins.items() if not hashes]
    assert not unhashed, f"{lock.name}: pins without hashes: {unhashed}"


def test_the_runtime_lock_covers_every_runtime_dependency_of_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins(LOCK)
    missing = [
        dep
        for dep in project["dependencies"]
        if canonicalize_name(Requirement(dep).name) not in pins
    ]
    assert not missing, (
        f"requirements/runtime.txt lacks {missing}: regenerate it (requirements/README.md)"
    )
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    build_pins = _pins(BUILD_LOCK)
    assert all(canonicalize_name(Requirement(r).name) in build_pins for r in build)
