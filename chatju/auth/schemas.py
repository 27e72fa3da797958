"""Request and response shapes of the sign-in routes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from chatju.auth.models import User
from chatju.timefmt import iso_utc
from chatju.validation import clean_text

# Text from a client: no control characters (chatju.validation).
Text = AfterValidator(clean_text)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class MagicLinkRequest(Strict):
    email: Annotated[EmailStr, Field(max_length=254)]


class MagicLinkVerify(Strict):
    token: Annotated[str, StringConstraints(min_length=10, max_length=200), Text]


class ProfileUpdate(Strict):
    displayName: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Text] | None


class LogoutRequest(Strict):
    everywhere: bool = False


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "displayName": user.display_name,
        "isAdmin": user.is_admin,
        "premiumReadings": user.premium_readings,
        "createdAt": iso_utc(user.created_at),
    }
