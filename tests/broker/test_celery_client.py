"""The Celery client's settings and the step's handling of bad input (no worker needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker_helpers import closed_port_url, opened, request

from autohub.broker.client import celery_settings
from autohub.broker.step import celery_step, client_of
from autohub.config import CeleryConfig
from autohub.engine.actions.base import ActionResult
from autohub.hub import Hub


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    """A project whose broker is on a closed port (the store is never opened)."""
    (tmp_path / "secrets.env").write_text("REDIS_PASSWORD=p@ss:w/rd\n")
    (tmp_path / "secrets.env").chmod(0o600)
    url = closed_port_url().replace("redis://", "redis://:${REDIS_PASSWORD}@")
    yield from opened(tmp_path, "sqlite://", url, "secrets_file: secrets.env")


def test_the_client_speaks_json_only_and_never_retries_a_connection() -> None:
    settings = celery_settings(CeleryConfig(broker_url="redis://h:6379/1"))
    assert settings["result_backend"] == "redis://h:6379/1"
    assert settings["task_serializer"] == settings["result_serializer"] == "json"
    assert settings["accept_content"] == settings["result_accept_content"] == ["json"]
    assert settings["task_publish_retry"] is False
    assert settings["broker_connection_retry"] is False
    assert settings["broker_connection_max_retries"] == 0
    assert settings["broker_transport_options"]["max_retries"] == 0
    assert settings["task_publish_retry_policy"] == {"max_retries": 0}
    assert settings["result_backend_always_retry"] is False
    assert settings["redis_retry_on_timeout"] is False
    assert settings["redis_socket_connect_timeout"] == 1.0


def test_one_client_per_hub_with_its_secrets_resolved(hub: Hub) -> None:
    client = client_of(hub)
    assert client_of(hub) is client
    assert "p%40ss%3Aw%2Frd@" in client.config.broker_url
    assert "p%40ss" not in client.broker  # messages show the URL without its password


def test_an_invalid_spec_is_a_failed_result_naming_the_field(hub: Hub) -> None:
    result = asyncio.run(celery_step(hub)(request({"task": "a b", "args": []})))
    assert isinstance(result, ActionResult)
    assert not result.ok
    assert result.error_type == "InvalidAction"
    assert result.error is not None
    assert result.error.startswith("invalid celery action: task:")


def test_an_unreachable_broker_is_a_connection_error_without_the_password(hub: Hub) -> None:
    result = asyncio.run(celery_step(hub)(request({"task": "tasks.add", "args": [1, 2]})))
    assert not result.ok
    assert result.error_type == "BrokerUnavailable"
    assert "ConnectionError" in result.error_types
    assert result.error is not None
    assert "p@ss" not in result.error
    assert "p%40ss" not in result.error
