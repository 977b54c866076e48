"""The cron scheduler: which ticks fire (the misfire policies), and, on SQLite and
PostgreSQL, that each tick fires exactly once however many schedulers share the store
and whether one dies mid-firing."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autohub.hub import Hub
from autohub.registry.triggers import CronTrigger
from autohub.server.scheduler import MAX_COUNTED_MISFIRES, Scheduler, plan
from autohub.store import migrations

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- plan: which ticks fire ----------------------------------------------------------------


def test_a_tick_seen_on_time_fires_alone():
    firing = plan(CronTrigger(schedule="* * * * *"), T0, T0 + timedelta(seconds=0.4), 60)

    assert firing.fire == [T0]
    assert firing.misfired == 0
    assert firing.next_fire_at == T0 + timedelta(minutes=1)


def test_every_tick_within_the_grace_fires():
    every_10s = CronTrigger(schedule="* * * * * */10")
    firing = plan(every_10s, T0, T0 + timedelta(seconds=35), 60)

    assert firing.fire == [T0 + timedelta(seconds=s) for s in (0, 10, 20, 30)]
    assert firing.misfired == 0
    assert firing.next_fire_at == T0 + timedelta(seconds=40)


@pytest.mark.parametrize(
    ("policy", "fired"), [("skip", ["10:00"]), ("run_once", ["09:59", "10:00"])]
)
def test_ticks_later_than_the_grace_are_misfires_handled_by_the_policy(policy, fired):
    trigger = CronTrigger(schedule="* * * * *", misfire=policy)
    now = at("2026-11-22T10:00:00.5")
    firing = plan(trigger, at("2026-11-22T08:00"), now, 60)

    assert firing.misfired == 120  # 08:00 .. 09:59: each over 60 s late
    assert (firing.first_misfire, firing.last_misfire) == (
        at("2026-11-22T08:00"),
        at("2026-11-22T09:59"),
    )
    assert [f"{t:%H:%M}" for t in firing.fire] == fired
    assert firing.next_fire_at == at("2026-11-22T10:01")


@pytest.mark.parametrize(("policy", "fired"), [("skip", []), ("run_once", ["2026-11-21T03:00"])])
def test_a_daily_tick_missed_while_down(policy, fired):
    trigger = CronTrigger(schedule="0 3 * * *", misfire=policy)
    firing = plan(trigger, at("2026-11-21T03:00"), at("2026-11-22T02:00"), 60)

    assert firing.misfired == 1
    assert [f"{t:%Y-%m-%dT%H:%M}" for t in firing.fire] == fired
    assert firing.next_fire_at == at("2026-11-22T03:00"), "the next tick is not skipped"


def test_a_long_outage_of_a_per_second_schedule_is_counted_up_to_a_cap():
    trigger = CronTrigger(schedule="* * * * * *", misfire="run_once")
    now = T0 + timedelta(days=1, seconds=0.5)
    firing = plan(trigger, T0, now, 60)

    assert firing.misfired == MAX_COUNTED_MISFIRES
    assert firing.misfire_count_capped
    assert firing.last_misfire == now - timedelta(seconds=60.5)  # the last tick over 60 s late
    assert firing.fire[0] == firing.last_misfire
    assert len(firing.fire) == 1 + 60  # the coalesced misfires, then each on-time tick


def test_ticks_follow_the_timezone_across_daylight_saving():
    berlin = CronTrigger(schedule="30 2 * * *", timezone="Europe/Berlin")
    # 2026-03-29: clocks jump from 02:00 to 03:00 in Berlin; 02:30 does not exist
    assert berlin.next_after(at("2026-03-28T12:00")) == at("2026-03-29T01:00")  # 03:00 CEST
    assert berlin.next_after(at("2026-03-29T12:00")) == at("2026-03-30T00:30")  # 02:30 CEST
    assert berlin.next_after(at("2026-11-22T12:00")) == at("2026-11-23T01:30")  # 02:30 CET


# -- the scheduler on a store ----------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


AUTOMATIONS = """
tick:
  triggers:
    - {type: cron, schedule: "* * * * *", misfire: run_once}
  steps:
    - {id: a, shell: [echo, tick]}
"""


@pytest.fixture
def hubs(tmp_path: Path, database_url: str) -> Iterator[list[Hub]]:
    """Two hubs (two servers' views) of one project and store."""
    body = textwrap.indent(textwrap.dedent(AUTOMATIONS).strip("\n"), "  ")
    (tmp_path / "autohub.yaml").write_text(f"project: sched\nautomations:\n{body}\n")
    opened = []
    for _ in range(2):
        hub = Hub.from_config(tmp_path / "autohub.yaml")
        hub.config.settings.database_url = database_url
        opened.append(hub)
    migrations.upgrade(opened[0].database)
    yield opened
    for hub in opened:
        hub.close()


def schedulers(hubs: list[Hub], clock: Clock) -> list[Scheduler]:
    made = []
    for index, hub in enumerate(hubs):
        hub.schedules.clock = clock
        made.append(Scheduler(hub, owner=f"server-{index}"))
    return made


def cron_runs(hub: Hub) -> list[str]:
    return [run.id for run in hub.runs.list_runs(limit=1000) if run.trigger == "cron"]


def events(hub: Hub, event_type: str) -> list[dict]:
    from autohub.store.events import EventFilter

    page = hub.events.query(EventFilter(event_types=[event_type]), limit=500)
    return [event.to_dict() for event in reversed(page.events)]


def test_each_tick_fires_once_however_many_schedulers_look(hubs):
    clock = Clock(T0 - timedelta(seconds=30))
    first, second = schedulers(hubs, clock)
    first.tick(), second.tick()  # both add the schedule: first tick at 10:00
    fired = 0
    for minute in range(3):
        clock.now = T0 + timedelta(minutes=minute, seconds=1)
        fired += first.tick() + second.tick() + first.tick()

    assert fired == 3
    assert len(cron_runs(hubs[0])) == 3
    scheduled = [e["evidence"]["scheduled_for"] for e in events(hubs[0], "schedule.fired")]
    assert scheduled == [(T0 + timedelta(minutes=m)).isoformat() for m in range(3)]
    (row,) = hubs[0].schedules.all()
    assert row.next_fire_at == T0 + timedelta(minutes=3)
    assert row.leased_by is None


def test_a_scheduler_that_dies_mid_firing_does_not_make_the_tick_fire_twice(hubs):
    clock = Clock(T0 - timedelta(seconds=30))
    dying, survivor = schedulers(hubs, clock)
    dying.tick()
    clock.now = T0 + timedelta(seconds=1)
    ((automation, trigger),) = dying.triggers()
    claimed = hubs[0].schedules.claim(automation, trigger.key, dying.owner, 30)
    assert claimed is not None
    made = dying._start(claimed, trigger, claimed.next_fire_at, clock.now)  # then it dies

    assert survivor.tick() == 0, "the dead scheduler's lease still holds"
    clock.now = T0 + timedelta(seconds=32)  # its lease has expired
    assert survivor.tick() == 0, "the tick's run exists already"

    assert cron_runs(hubs[0]) == [made]
    assert len(events(hubs[0], "schedule.fired")) == 1
    (row,) = hubs[0].schedules.all()
    assert (row.next_fire_at, row.leased_by) == (T0 + timedelta(minutes=1), None)
    assert not hubs[0].schedules.advance(
        claimed, dying.owner, next_fire_at=T0, fired_at=T0, run_id=made
    ), "the dead scheduler's late advance is refused"


def test_misfires_after_an_outage_are_recorded_and_run_once(hubs):
    clock = Clock(T0 - timedelta(seconds=30))
    (scheduler, _) = schedulers(hubs, clock)
    scheduler.tick()
    clock.now = T0 + timedelta(hours=2, seconds=5)  # down for two hours

    assert scheduler.tick() == 2  # the misfires once, then the on-time 12:00 tick
    (misfired,) = events(hubs[0], "schedule.misfired")
    assert misfired["status"] == "warning"
    assert misfired["evidence"]["misfired"] == 120  # 10:00 .. 11:59
    assert misfired["evidence"]["policy"] == "run_once"
    fired = [e["evidence"]["scheduled_for"] for e in events(hubs[0], "schedule.fired")]
    assert fired == [
        (T0 + timedelta(hours=1, minutes=59)).isoformat(),
        (T0 + timedelta(hours=2)).isoformat(),
    ]


def test_stopping_releases_the_schedulers_leases(hubs):
    clock = Clock(T0 + timedelta(seconds=1))
    (scheduler, _) = schedulers(hubs, clock)
    scheduler.tick()  # adds the schedule for 10:01
    clock.now = T0 + timedelta(minutes=1, seconds=1)
    ((automation, trigger),) = scheduler.triggers()
    assert hubs[0].schedules.claim(automation, trigger.key, scheduler.owner, 30) is not None

    scheduler.stop()

    (row,) = hubs[0].schedules.all()
    assert row.leased_by is None
    assert hubs[1].schedules.claim(automation, trigger.key, "other", 30) is not None


def redefine(hub: Hub, automations: str) -> None:
    """Rewrite the project's automations and reload them, as a serving hub does."""
    body = textwrap.indent(textwrap.dedent(automations).strip("\n"), "  ")
    path = hub.config.path
    assert path is not None
    path.write_text(f"project: sched\nautomations:\n{body}\n")
    assert hub.refresh_registry().last_error is None


def test_a_trigger_defined_again_starts_afresh_instead_of_owing_every_tick(hubs):
    clock = Clock(T0 - timedelta(seconds=30))
    (scheduler, other) = schedulers(hubs, clock)
    hubs[0].schedules.ensure(  # another project's same-named automation in the store
        automation="tick",
        trigger_key="k" * 32,
        project_id="other-project",
        schedule="* * * * *",
        timezone="UTC",
        first_fire_at=T0,
    )
    scheduler.tick()  # the every-minute schedule, first due at 10:00
    redefine(hubs[0], AUTOMATIONS.replace('"* * * * *"', '"0 3 * * *"'))
    clock.now = T0 + timedelta(minutes=5)
    scheduler.tick()
    (retired,) = events(hubs[0], "schedule.retired")
    assert retired["evidence"]["automation"] == "tick"
    assert retired["evidence"]["schedule"] == "* * * * *"
    assert retired["evidence"]["reason"] == "its cron trigger is no longer defined"

    clock.now = T0 + timedelta(days=2)  # the every-minute trigger comes back
    redefine(hubs[0], AUTOMATIONS)
    assert scheduler.tick() == 0
    assert other.tick() == 0

    assert cron_runs(hubs[0]) == []
    assert events(hubs[0], "schedule.misfired") == []
    rows = {(row.project_id, row.schedule): row for row in hubs[0].schedules.all()}
    assert sorted(rows) == [("other-project", "* * * * *"), ("sched", "* * * * *")]
    assert rows["sched", "* * * * *"].next_fire_at == T0 + timedelta(days=2, minutes=1)
    assert len(events(hubs[0], "schedule.retired")) == 2  # 03:00 went away in its turn


def test_the_schedule_of_a_removed_automation_is_retired(hubs):
    clock = Clock(T0 - timedelta(seconds=30))
    (scheduler, _) = schedulers(hubs, clock)
    scheduler.tick()
    redefine(hubs[0], "other:\n  steps: [{id: a, shell: [echo, other]}]\n")

    assert scheduler.tick() == 0

    assert hubs[0].schedules.all() == []
    (retired,) = events(hubs[0], "schedule.retired")
    assert retired["project_id"] == "sched"
    assert retired["evidence"]["reason"] == "its automation is no longer defined"
