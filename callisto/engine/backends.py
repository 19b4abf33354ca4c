"""The event log and the key store a process uses, as its settings name them."""

from __future__ import annotations

from callisto.config import Settings
from callisto.engine.credentials import Credentials, MemoryCredentials, RedisCredentials
from callisto.engine.events import EventLog, MemoryEventLog


def make_event_log(settings: Settings) -> EventLog:
    """Return the event log ``settings.event_log`` names."""
    if settings.event_log == "redis":
        if not settings.redis_url:
            raise ValueError("event_log = 'redis' needs redis_url (CALLISTO_REDIS_URL)")
        from callisto.engine.redis_events import RedisEventLog

        return RedisEventLog(settings.redis_url)
    return MemoryEventLog()


def make_credentials(settings: Settings) -> Credentials:
    """Return where request-given provider keys are kept: Redis when events are there too."""
    if settings.event_log == "redis" and settings.redis_url:
        return RedisCredentials(settings.redis_url)
    return MemoryCredentials()
