"""The kustomize builds of k8s/, built once per test session."""

from __future__ import annotations

import pytest

from tests.deploy.manifests import Document, kustomize_build


@pytest.fixture(scope="session")
def base() -> list[Document]:
    return kustomize_build("base")


@pytest.fixture(scope="session")
def production() -> list[Document]:
    return kustomize_build("overlays/production")


@pytest.fixture(scope="session", params=["base", "production"])
def build(request: pytest.FixtureRequest) -> list[Document]:
    """Each kustomization in turn: what holds for the base must hold for every overlay too."""
    documents: list[Document] = request.getfixturevalue(request.param)
    return documents
