"""Each service's image is built from the repository root in two stages and runs as an unprivileged user."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.deploy.manifests import ROOT, SERVICES, dockerfile_stages

PORTS = {"webhooks": 8000, "media": 8001, "dialer": 8002, "transfer": 8003}


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_is_multi_stage_and_runs_as_an_unprivileged_user(service: str) -> None:
    build, *_, final = dockerfile_stages(service)
    assert build[0].endswith(" AS build")
    # The final stage takes only the installed virtualenv from the build stage: no sources, pip cache or
    # build tools reach the image.
    copies = [line for line in final if line.startswith("COPY")]
    assert copies == ["COPY --from=build /opt/venv /opt/venv"]
    assert not [line for line in final if line.startswith("RUN pip")]
    (user,) = [line.split()[1] for line in final if line.startswith("USER ")]
    assert user.isdigit()
    assert int(user) >= 1000
    assert final.index(f"USER {user}") < final.index(next(line for line in final if line.startswith("CMD")))


@pytest.mark.parametrize("service", SERVICES)
def test_the_images_health_check_is_liveness_on_its_port(service: str) -> None:
    *_, final = dockerfile_stages(service)
    (healthcheck,) = [line for line in final if line.startswith("HEALTHCHECK")]
    assert f"http://127.0.0.1:{PORTS[service]}/livez" in healthcheck
    assert f"EXPOSE {PORTS[service]}" in final


def _callbridge_requirements(package_dir: Path) -> set[str]:
    """The callbridge packages ``package_dir``'s pyproject needs, directly or through another one."""
    locations = {"callbridge-common": "libs/common", "callbridge-telephony": "libs/telephony"}
    found: set[str] = set()
    pending = [package_dir]
    while pending:
        project = tomllib.loads((pending.pop() / "pyproject.toml").read_text())["project"]
        for requirement in project["dependencies"]:
            name = requirement.split(";")[0].split(">")[0].split("=")[0].split("[")[0].strip()
            if name.startswith("callbridge-") and locations[name] not in found:
                found.add(locations[name])
                pending.append(ROOT / locations[name])
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_each_image_installs_every_callbridge_library_its_service_needs(service: str) -> None:
    build, *_ = dockerfile_stages(service)
    (install,) = [line for line in build if line.startswith("RUN pip install")]
    for library in sorted(_callbridge_requirements(ROOT / "services" / service)):
        assert f"COPY {library} {library}" in build, f"{service} image lacks {library}"
        assert f"./{library}" in install, f"{service} image does not install {library}"
        assert f"!{library}" in (ROOT / ".dockerignore").read_text(), f".dockerignore leaves out {library}"
    assert f"!services/{service}" in (ROOT / ".dockerignore").read_text()
