"""Which notifiers there are. Adding one is a module beside this one and a line here."""

from __future__ import annotations

from collections.abc import Callable

from ..config import Config
from .notifier import Notifier
from .webhook import Webhook
from .weblogs import WeblogUpdates
from .websub import WebSub

NOTIFIERS: tuple[Callable[[Config], Notifier], ...] = (
    WebSub.from_config,
    WeblogUpdates.from_config,
    Webhook.from_config,
)


def build(config: Config) -> list[Notifier]:
    """Every notifier, as the config sets it up (one with no targets still sends what is queued for it)."""
    return [make(config) for make in NOTIFIERS]
