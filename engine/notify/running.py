"""What the notifier reads of the running config version, by name: its rules, its channels,
a device's site, and one driver per channel. Rebuilt when the version changes (the provider
hands another Bundle); a channel gone from the config is reported (`on_channels`: the
breakers forget it), and a channel's driver is made again, the old one closed, when the
channel's settings change."""
from __future__ import annotations

from typing import Callable, Iterable

from ..config.bundle import Bundle, Channel, Rule
from .channels import DRIVERS, Driver
from .http import HttpClient
from .parking import retry_window


class RunningConfig:
    def __init__(self, provider: Callable[[], Bundle], on_channels: Callable[[Iterable[str]], None]) -> None:
        self._provider = provider
        self._on_channels = on_channels
        self._of: Bundle | None = None
        self._rules: dict[str, Rule] = {}
        self._channels: dict[str, Channel] = {}
        self._sites: dict[str, str | None] = {}
        self._drivers: dict[str, tuple[Channel, Driver]] = {}

    def current(self) -> Bundle:
        bundle = self._provider()
        if bundle is not self._of:
            self._of = bundle
            self._rules = {r.name: r for r in bundle.rules}
            self._channels = {c.name: c for c in bundle.channels}
            self._sites = {d.ip: d.site for d in bundle.devices}
            self._on_channels(self._channels)
        return bundle

    def rule(self, name: str) -> Rule | None:
        self.current()
        return self._rules.get(name)

    def channel(self, name: str) -> Channel | None:
        self.current()
        return self._channels.get(name)

    def site(self, ip: str | None) -> str | None:
        self.current()
        return self._sites.get(ip) if ip else None

    def retry_window(self, channel: str) -> float:
        """The channel's retry window in seconds (0 for a channel the config no longer has)."""
        config = self.channel(channel)
        return retry_window(config.settings) if config is not None else 0.0

    def driver(self, channel: Channel, client: HttpClient) -> Driver | None:
        """The channel's driver, None for a type without delivery."""
        known = self._drivers.get(channel.name)
        if known is not None and known[0] is channel:
            return known[1]
        cls = DRIVERS.get(channel.type)
        if cls is None:
            return None
        driver = cls(channel, client)
        if known is not None:
            known[1].close()
        self._drivers[channel.name] = (channel, driver)
        return driver

    def close(self) -> None:
        for _, driver in self._drivers.values():
            driver.close()
        self._drivers.clear()
