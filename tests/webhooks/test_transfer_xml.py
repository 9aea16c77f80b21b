"""The ``<Dial>`` XML Plivo runs for a cold transfer: a number, or a SIP URI with its headers, and the hold
music; every value escaped."""

from __future__ import annotations

from uuid import uuid4
from xml.etree import ElementTree

from callbridge.common.call_control import ColdTransfer
from callbridge.webhooks.call_control import plivo_dial_xml


def parse(text: str) -> ElementTree.Element:
    return ElementTree.fromstring(text)  # noqa: S314  (our own service's answer, in a test)


def test_a_number_is_dialed_as_a_number() -> None:
    document = parse(plivo_dial_xml(ColdTransfer(call_id=uuid4(), target="+15557654321")))
    (dial,) = document
    assert (dial.tag, dial.attrib) == ("Dial", {})
    assert [(child.tag, child.text) for child in dial] == [("Number", "+15557654321")]


def test_a_sip_uri_is_dialed_as_a_user_with_its_headers_and_the_hold_music() -> None:
    command = ColdTransfer.model_validate(
        {
            "callId": str(uuid4()),
            "target": "sip:desk@example.com;transport=tls",
            "extraHeaders": {"X-Ticket": "4&2", "X-Team": 'a"b'},
            "holdMusicUrl": "https://music.example.com/hold.mp3?a=1&b=2",
        }
    )
    (dial,) = parse(plivo_dial_xml(command))
    assert dial.attrib == {"dialMusic": "https://music.example.com/hold.mp3?a=1&b=2"}
    (user,) = dial
    assert user.tag == "User"
    assert user.text == "sip:desk@example.com;transport=tls"
    assert user.attrib == {"sipHeaders": 'X-Ticket=4&2,X-Team=a"b'}
