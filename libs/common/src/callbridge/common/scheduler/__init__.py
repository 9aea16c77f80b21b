"""The outbound call scheduler: places scheduled batches' calls inside their windows, at the capacity the
provider accounts allow, with retries by outcome, across any number of replicas (engine.py)."""

from callbridge.common.scheduler.consumer import OutcomeConsumer
from callbridge.common.scheduler.engine import Scheduler, SchedulerSettings, SchedulerStats
from callbridge.common.scheduler.placement import (
    CallPlacer,
    PlacedCall,
    Placement,
    PlacementDeferred,
    PlacementError,
)
from callbridge.common.scheduler.progress import BatchProgressed, ProgressPublisher
from callbridge.common.scheduler.recorder import OutcomeRecorder
from callbridge.common.scheduler.webhook import WebhookPolicy, WebhookSender

__all__ = [
    "BatchProgressed",
    "CallPlacer",
    "OutcomeConsumer",
    "OutcomeRecorder",
    "PlacedCall",
    "Placement",
    "PlacementDeferred",
    "PlacementError",
    "ProgressPublisher",
    "Scheduler",
    "SchedulerSettings",
    "SchedulerStats",
    "WebhookPolicy",
    "WebhookSender",
]
