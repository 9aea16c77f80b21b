"""k8s/: the base and the production overlay build with kustomize, and every document they build is valid
against the Kubernetes OpenAPI schemas (kubernetes-validate ships them), custom resources structurally."""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.deploy.manifests import DEPLOYMENTS, Document, container, of_kind, one

# The Kubernetes versions the manifests must be valid for: the oldest still maintained upstream that the
# manifests target, and the kubectl installed here.
KUBERNETES_VERSIONS = ["1.30.0", "1.32.0"]
# Custom resources kubernetes-validate has no schema for, and the fields their controllers require.
CUSTOM_RESOURCES = {("keda.sh/v1alpha1", "ScaledObject"): ("scaleTargetRef", "triggers")}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_built_document_is_valid_against_the_kubernetes_schemas(
    build: list[Document], version: str
) -> None:
    for document in build:
        if (document["apiVersion"], document["kind"]) in CUSTOM_RESOURCES:
            continue  # checked in test_custom_resources_carry_what_their_controllers_require
        kubernetes_validate.validate(document, version, strict=True)  # strict: unknown fields are errors


def test_the_schema_check_catches_a_misspelled_or_mistyped_field(base: list[Document]) -> None:
    service = one(base, "Service", "callbridge-media")
    mistyped = {**service, "spec": {**service["spec"], "ports": [{"name": "ws", "port": "eighty"}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(mistyped, KUBERNETES_VERSIONS[-1], strict=True)
    misspelled = {**service, "spec": {**service["spec"], "selectr": service["spec"]["selector"]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelled, KUBERNETES_VERSIONS[-1], strict=True)


def test_custom_resources_carry_what_their_controllers_require(build: list[Document]) -> None:
    custom = [d for d in build if (d["apiVersion"], d["kind"]) in CUSTOM_RESOURCES]
    assert custom, "the media ScaledObject is missing"
    for document in custom:
        assert document["metadata"]["name"]
        for field in CUSTOM_RESOURCES[(document["apiVersion"], document["kind"])]:
            assert document["spec"].get(field), f"{document['kind']} without spec.{field}"


def test_no_secret_is_shipped(build: list[Document]) -> None:
    assert of_kind(build, "Secret") == [], "kubectl apply -k would overwrite the real Secret"


def test_every_object_is_labelled_part_of_callbridge(base: list[Document]) -> None:
    for document in base:
        labels = document["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "callbridge", document["metadata"]["name"]


def test_production_sets_namespace_images_and_replicas(production: list[Document]) -> None:
    (namespace,) = of_kind(production, "Namespace")
    for document in production:
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == namespace["metadata"]["name"]
    for name in DEPLOYMENTS.values():
        image = container(one(production, "Deployment", name))["image"]
        assert "/" in image.split(":")[0].removeprefix("callbridge/"), f"{name} still runs {image}"
        assert not image.endswith(":latest")
    assert one(production, "Deployment", "callbridge-webhooks")["spec"]["replicas"] >= 2
