"""The pipeline: normalize → enrich → correlate → route, composed once per config version.

`process(event, now)` runs one event through the stages and applies the effects to the
open-alert view; `command(cmd, now)` does the same with an operator's acknowledge, resolve
or silence; `tick(now)` does the work that time alone triggers (children whose
root cleared are looked at again). The caller persists and notifies from the Effects.
"""
from __future__ import annotations

from collections import deque
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Callable, Iterator, Mapping, Sequence

from .. import ids
from ..config.bundle import Bundle
from ..model import RawEvent, Status
from ..rules.engine import RuleEngine
from ..rules.host import RulesHost
from .commands import OperatorCommand, operate
from .context import ConfigView, Normalizer
from . import flapping
from .correlate import correlate, restore_windows
from .effects import Effects, EffectsBuilder, HeldActions
from .enrich import enrich
from .holders import Holders
from .normalize import normalize
from .route import announced_by, release_times, route
from .silencing import SilenceCommand, silence
from .state import ActiveAlerts
from .tick import tick
from .work import Context, Stage, Work

STAGES: tuple[Stage, ...] = (normalize, enrich, correlate, route)
COMMAND_STAGES: tuple[Stage, ...] = (operate, silence)  # each passes on the commands that are not its own
TICK_STAGES: tuple[Stage, ...] = (tick,)


class Pipeline:
    def __init__(self, bundle: Bundle, host: RulesHost, state: ActiveAlerts | None = None, *,
                 normalizers: Mapping[str, Normalizer], version_id: int | None = None,
                 new_id: Callable[[], str] | None = None, stages: Sequence[Stage] = STAGES,
                 rules: RuleEngine | None = None) -> None:
        """`normalizers`: source system → normalizer, the connector types' (connectors/registry.py:
        the connectors sit above the pipeline, so whoever builds one passes them).
        `rules`: an already loaded rules generation of this bundle (a reload's rule tests and
        its live pipeline share one); the pipeline closes it."""
        self.view = ConfigView(bundle, version_id)
        self.rules = rules if rules is not None else RuleEngine(host, bundle)
        self.state = state if state is not None else ActiveAlerts()
        self.stages = tuple(stages)
        self.ctx = Context(self.view, self.rules, self.state,
                           normalizers,
                           new_id or ids.new_id)
        self.holders = Holders(self.rules.close)  # its rules generation is freed after its last batch
        self._horizon()

    def close(self) -> None:
        """Retire this generation: its rules are freed now, or when the batch holding it ends."""
        self.holders.retire()

    @contextmanager
    def held(self) -> Iterator["Pipeline"]:
        """Use this generation for one batch: it is not freed before the batch ends."""
        self.holders.acquire()
        try:
            yield self
        finally:
            self.holders.release()

    def set_version(self, version_id: int | None) -> None:
        """Stamp the config version id once it is recorded (after the rules compiled)."""
        view = ConfigView(self.view.bundle, version_id)
        view.__dict__.update({k: v for k, v in self.view.__dict__.items() if k not in ("bundle", "version_id")})
        self.view = view
        self.ctx = replace(self.ctx, view=view)

    def _horizon(self) -> None:
        self.state.recent_horizon = max(self.view.lookback(t) for t in ("network", "power", "logical", "service"))

    def with_state(self, state: ActiveAlerts) -> "Pipeline":
        """Share the open-alert view with a pipeline of another config version (hot reload)."""
        self.state = state
        self.ctx = replace(self.ctx, state=state)
        self._horizon()
        return self

    def process(self, event: RawEvent, now: datetime | None = None) -> Effects:
        work = Work(event, now or event.received_at)
        for stage in self.stages:
            work = stage(work, self.ctx)
        self.state.apply(work.effects)
        return work.effects

    def command(self, command: OperatorCommand | SilenceCommand, now: datetime) -> Effects:
        """An operator's acknowledge or resolve, or an ad-hoc silence created or ended, through
        the command stages (pipeline/commands.py, pipeline/silencing.py): the view follows at
        once (a recurrence after a resolve is a new alert, an acknowledged alert is not
        repeated, the next event sees a new silence and no longer an ended one); the Effects
        carry the change to store and the answer."""
        work = Work(None, now, command=command)
        for stage in COMMAND_STAGES:
            work = stage(work, self.ctx)
        self.state.apply(work.effects)
        return work.effects

    def restore_correlation(self, now: datetime) -> None:
        """At start, after the open alerts are rebuilt: the memory of correlation that only
        lived in the process, rebuilt from them (engine/pipeline/correlate.py restore_windows),
        and the root-cause lookback: a root that comes just after a restart still links the
        alerts that came just before it."""
        fx = EffectsBuilder(None)
        restore_windows(now, self.ctx, fx)
        self.state.apply(fx.freeze())
        horizon = now - timedelta(seconds=self.state.recent_horizon)
        self.state.recent = deque(sorted(
            (a.received_at, a.id) for a in self.state.by_id.values()
            if a.status is Status.ACTIVE and a.device_ip and not a.correlated_to_id and a.received_at >= horizon))

    def restore_held(self, now: datetime) -> int:
        """At start, after the open alerts and who was told are rebuilt: an active alert that
        was never told, though rules notify it, had its notifications held (a silence, a
        throttle); what held them lived in memory only. They are held again, and the next tick
        releases them once nothing holds them (a silence that ended while the engine was down
        releases them at once). Returns how many alerts were held again."""
        held: list[HeldActions] = []
        for alert in list(self.state.by_id.values()):
            if alert.status is not Status.ACTIVE or alert.id in self.state.notified or alert.id in self.state.held \
                    or alert.custom_fields.get("flapping"):
                continue
            if alert.source_system == "correlation":
                actions = announced_by(alert, self.ctx)
            else:
                actions = tuple(self.rules.evaluate(alert, self.view.site(alert.device_ip), now).notify)
            if actions:
                held.append(HeldActions(alert.id, tuple(actions)))
        fx = EffectsBuilder(None)
        fx.held.extend(held)
        self.state.apply(fx.freeze())
        return len(held)

    def wakeups(self) -> list[datetime]:
        """Times a tick has held notifications to look at (besides repeats, re-evaluations and
        silences, which the caller knows): for clocks that sleep until the next thing to do."""
        return release_times(self.ctx) + flapping.times_next(self.ctx)

    def tick(self, now: datetime) -> Effects:
        """What time alone triggers, through the tick stage (pipeline/tick.py)."""
        work = Work(None, now)
        for stage in TICK_STAGES:
            work = stage(work, self.ctx)
        self.state.apply(work.effects)
        return work.effects
