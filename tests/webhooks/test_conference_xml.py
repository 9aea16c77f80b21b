"""The ``<Conference>`` XML both Plivo calls of an accepted warm transfer run."""

from __future__ import annotations

from uuid import uuid4
from xml.etree import ElementTree

from callbridge.common.warm_transfer import conference_room
from callbridge.webhooks.call_control import plivo_conference_xml


def test_both_calls_join_one_room_that_ends_when_either_leaves_without_sounds() -> None:
    call_id = uuid4()
    document = ElementTree.fromstring(plivo_conference_xml(conference_room(call_id)))  # noqa: S314  (ours)
    (conference,) = document
    assert document.tag == "Response"
    assert conference.tag == "Conference"
    assert conference.text == f"callbridge-{call_id}"
    assert conference.attrib == {
        "startConferenceOnEnter": "true",
        "endConferenceOnExit": "true",
        "enterSound": "",
        "exitSound": "",
        "waitSound": "",
    }


def test_the_room_is_escaped() -> None:
    (conference,) = ElementTree.fromstring(plivo_conference_xml("a<b&c"))  # noqa: S314  (ours)
    assert conference.text == "a<b&c"
