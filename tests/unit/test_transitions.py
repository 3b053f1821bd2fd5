"""The table of transitions: written once in code, shown by the README, and held to the services:
each step has one deciding service, whose topic carries its decision, and a request made at
another service reaches the decider's consumer."""

from __future__ import annotations

from pathlib import Path

from contracts.events import EVENT_TYPES, Topic
from contracts.lifecycle import Service
from contracts.transitions import TRANSITIONS, readme_with_table
from services.disclosure.main import DisclosureSettings
from services.disclosure.main import subscription as disclosure_subscription
from services.submission.consumers import SUBSCRIPTION as SUBMISSION
from services.tracking.main import TrackingSettings
from services.tracking.main import subscription as tracking_subscription

README = Path(__file__).resolve().parents[2] / "README.md"


def _handled() -> dict[Service, set[type]]:
    tracking = tracking_subscription(TrackingSettings(tracking_database_url="postgresql://x/y"))
    disclosure = disclosure_subscription(
        DisclosureSettings(disclosure_database_url="postgresql://x/y")
    )
    return {
        Service.SUBMISSION: set(SUBMISSION.handlers),
        Service.TRACKING: set(tracking.handlers),
        Service.DISCLOSURE: set(disclosure.handlers),
    }


def test_the_readme_shows_the_table_the_code_holds() -> None:
    readme = README.read_text(encoding="utf-8")
    assert readme_with_table(readme) == readme, "the README's table is stale: make transitions"


def test_each_decision_travels_on_a_topic_of_the_service_that_decides_it() -> None:
    for transition in TRANSITIONS:
        for event in transition.decisions:
            assert event.topic.owner == transition.decided_by, (transition.name, event.__name__)


def test_each_request_made_elsewhere_reaches_the_deciders_consumer_and_comes_back_decided() -> None:
    handled = _handled()
    for transition in TRANSITIONS:
        if transition.request is None:
            continue
        asker = Service(transition.request.topic.owner)
        assert asker != transition.decided_by
        assert transition.request in handled[transition.decided_by], transition.name
        # the service holding it as pending hears the decision
        assert set(transition.decisions) <= handled[asker], transition.name


def test_every_event_is_some_transition_s_decision_or_request() -> None:
    named = {e for t in TRANSITIONS for e in (*t.decisions, *((t.request,) if t.request else ()))}
    assert set(EVENT_TYPES.values()) - named == set()
    assert {t.decided_by for t in TRANSITIONS} == set(Service)
    assert all(topic.owner in set(Service) for topic in Topic)
