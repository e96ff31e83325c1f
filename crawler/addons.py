"""Vivier's configuration, read once and handed to every part of a crawl through the Scrapy settings.

crawler.run receives the vivier Settings from its caller (the command line, which read them once) and puts them in
the Scrapy settings under VIVIER_SETTINGS; spiders and pipelines take them from there (`vivier_settings(crawler)`),
never from the environment. A crawl started by `scrapy crawl` has no such caller: the add-on below reads the
environment for it, once per crawl, before Scrapy freezes its settings.
"""

from __future__ import annotations

from typing import Any

from vivier.config import Settings

SETTING = "VIVIER_SETTINGS"


class VivierConfiguration:
    """Scrapy add-on (crawler.settings.ADDONS): the vivier Settings of a crawl nobody passed them to."""

    def update_settings(self, settings: Any) -> None:
        if settings.get(SETTING) is None:
            from vivier.config import load_settings

            settings.set(SETTING, load_settings(), priority="project")


def vivier_settings(crawler: Any) -> Settings:
    """The vivier Settings of this crawl."""
    value = crawler.settings.get(SETTING)
    if not isinstance(value, Settings):
        raise RuntimeError(f"the Scrapy setting {SETTING} holds no vivier Settings (got {type(value).__name__}): "
                           "start crawls with crawler.run.run_crawls or `scrapy crawl`")
    return value
