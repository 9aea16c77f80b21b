"""The NATS configurations the deployments ship are valid for nats-server itself (`nats-server -t`), given
exactly the environment their containers get: compose's deploy/nats.conf and the k8s cluster's nats.conf."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.manifests import ROOT, Document, container, load_compose, one


def _check(config: Path, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("nats-server")
    assert binary, "nats-server is missing: `make setup` installs it"
    return subprocess.run(
        [binary, "-c", str(config), "-t"],
        env=environment,  # only what the container has: a variable the config reads must be set
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_compose_nats_configuration_is_valid_with_the_containers_environment(tmp_path: Path) -> None:
    nats = load_compose()["services"]["nats"]
    environment = {name: "cb-test-value-0123456789" for name in nats["environment"]}
    config = next(v.split(":")[0] for v in nats["volumes"] if v.split(":")[1] == "/etc/nats/nats.conf")
    checked = _check(ROOT / config, environment)
    assert checked.returncode == 0, checked.stderr


def _write_cluster_config(build: list[Document], tmp_path: Path) -> Path:
    config = tmp_path / "nats.conf"
    config.write_text(one(build, "ConfigMap", "nats-config")["data"]["nats.conf"])
    return config


def test_the_k8s_cluster_configuration_is_valid_with_the_pods_environment(
    build: list[Document], tmp_path: Path
) -> None:
    nats = one(build, "StatefulSet", "nats")
    environment = {item["name"]: "nats-1" for item in container(nats)["env"]}
    checked = _check(_write_cluster_config(build, tmp_path), environment)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("missing", ["POD_NAME", "CALLBRIDGE_NATS_PASSWORD"])
def test_the_check_fails_without_a_variable_the_configuration_reads(
    base: list[Document], tmp_path: Path, missing: str
) -> None:
    nats = one(base, "StatefulSet", "nats")
    environment = {item["name"]: "nats-1" for item in container(nats)["env"] if item["name"] != missing}
    assert _check(_write_cluster_config(base, tmp_path), environment).returncode != 0
