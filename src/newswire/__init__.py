"""newswire: publish a journal as verified Atom, RSS and JSON feeds, and tell subscribers.

The library API the command line is built on::

    from newswire import load_config, publish
    report = publish(load_config("config.yaml"))
    print(report.summary())
"""

from .config import Config, load_config
from .job import PublishReport, check_published, publish

__version__ = "0.1.0"

__all__ = ["Config", "PublishReport", "check_published", "load_config", "publish", "__version__"]
