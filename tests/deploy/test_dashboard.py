"""The Grafana dashboard (deploy/grafana/dashboards/callbridge.json) queries only metrics the services export,
under the names Prometheus stores them by, and shows every one of them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any, cast

import pytest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from callbridge.common.account_webhooks import metrics as account_webhook_metrics
from callbridge.dialer import metrics as dialer_metrics
from callbridge.media import metrics as media_metrics
from callbridge.transfer import metrics as transfer_metrics
from callbridge.webhooks import metrics as webhooks_metrics
from tests.deploy.manifests import ROOT

DASHBOARD = ROOT / "deploy/grafana/dashboards/callbridge.json"
METRICS_MODULES = (
    media_metrics,
    webhooks_metrics,
    account_webhook_metrics,
    dialer_metrics,
    transfer_metrics,
)
# What Prometheus stores for each kind of metric, after the family's name.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}
PROMQL_WORDS |= {"offset", "inf", "nan"}


def _families(module: ModuleType) -> Iterator[Metric]:
    """The families of the module's metrics, and of its custom collectors (which read another object's
    counts at each scrape and may not describe themselves)."""
    for value in vars(module).values():
        if isinstance(value, MetricWrapperBase):
            yield from value.describe()
        elif isinstance(value, (CollectorRegistry, type)):
            continue  # the registry a module registers with, or a class
        elif callable(getattr(value, "collect", None)):
            yield from cast(Collector, value).collect()


def exported_series() -> dict[str, str]:
    """Every series name the services' metrics modules export, and the metric family it belongs to."""
    series = {}
    for module in METRICS_MODULES:
        for family in _families(module):
            for suffix in SUFFIXES[family.type]:
                series[family.name + suffix] = family.name
    return series


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in _panels(dashboard["panels"]) for target in panel.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions, keywords, label
    names (in braces, by/without lists) or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # label values
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range durations
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[match.end() :].lstrip()
        if following.startswith("(") or match.group(0).lower() in PROMQL_WORDS:
            continue  # a function or an aggregation
        if match.start() > 0 and (text[match.start() - 1].isdigit() or text[match.start() - 1] == "."):
            continue  # part of a number (1e3)
        names.add(match.group(0))
    return names


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (route, le) "
        '(rate(callbridge_webhooks_request_seconds_bucket{status=~"5.."}[$__rate_interval])))'
        " / ignoring(le) sum(up) * 1e3"
    )
    assert metric_names(expr) == {"callbridge_webhooks_request_seconds_bucket", "up"}


def test_the_registries_are_read() -> None:
    series = exported_series()
    assert series["callbridge_media_active_calls"] == "callbridge_media_active_calls"
    assert series["callbridge_media_calls_ended_total"] == "callbridge_media_calls_ended"
    assert series["callbridge_dialer_dial_seconds_bucket"] == "callbridge_dialer_dial_seconds"


@pytest.mark.parametrize("expr", dashboard_queries())
def test_every_query_reads_a_metric_the_services_export(expr: str) -> None:
    series = exported_series()
    names = metric_names(expr)
    assert names, f"no metric in {expr}"
    unknown = names - set(series)
    assert not unknown, f"{expr}: no service exports {unknown}"
    gauges = {name for name, family in series.items() if name == family}  # stored under the bare name
    for counted in re.findall(r"\b(?:rate|increase|irate)\((\w+)", expr):
        assert counted not in gauges, f"rate() of a gauge: {expr}"


def test_the_dashboard_shows_every_metric_the_services_export() -> None:
    shown = {exported_series()[name] for expr in dashboard_queries() for name in metric_names(expr)}
    families = set(exported_series().values())
    assert families - shown == set(), "add a panel for these"


def test_panels_use_the_provisioned_prometheus() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    for panel in _panels(dashboard["panels"]):
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": f"${{{variable['name']}}}"}
            assert panel["targets"], panel["title"]
    ids = [panel["id"] for panel in _panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == "callbridge"
