"""gunicorn configured in code: the collector tuning hook of each web worker."""

from __future__ import annotations

import gc

import pytest

from services.gateway.server import GC_THRESHOLDS, GatewayServer, tune_collector
from tests.support import gateway_settings

pytestmark = pytest.mark.unit


def test_every_web_worker_tunes_its_collector_once_loaded() -> None:
    server = GatewayServer(gateway_settings())
    assert server.cfg.post_worker_init is tune_collector


def test_tune_collector_freezes_startup_objects_and_widens_the_young_generation() -> None:
    before = gc.get_threshold()
    try:
        tune_collector(None)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
