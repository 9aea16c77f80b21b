"""What every provider's credential models share: the allow-list rules."""

from uuid import uuid4

import pytest
from pydantic import ValidationError

from callbridge.telephony.twilio.credentials import TwilioConfigCreate


def test_twilio_config_refuses_allow_all_with_an_allow_list() -> None:
    with pytest.raises(ValidationError, match="may not be set"):
        TwilioConfigCreate.model_validate(
            {
                "accountSid": "AC" + "0" * 32,
                "authToken": "x" * 32,
                "callCreationAllowAllAgents": True,
                "callCreationAllowedAgentIds": [str(uuid4())],
            }
        )
