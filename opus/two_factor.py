"""Two-factor authentication (TOTP, an authenticator app) with backup codes, on
django-otp: its TOTP device (RFC 6238, replay refused: a code is used once) and its
static device (the backup codes, each used once).

A device exists only once confirmed: the secret being set up lives in the wizard
state (the session) until the user types a right code from it.
"""

from __future__ import annotations

import logging
import time
from base64 import b32encode

import qrcode
import qrcode.image.svg
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django_otp import match_token
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from opus.lib.actors import require_actor
from opus.lib.errors import BusinessRuleError
from opus.lib.security import staff_2fa_required
from opus.models import User

logger = logging.getLogger(__name__)

BACKUP_CODES = 10
APP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
WRONG_CODE = "That code is not right. Type the 6-digit code your app shows now, or a backup code."


def _require_self(user, actor) -> None:
    require_actor(actor)
    if getattr(actor, "pk", None) != user.pk:
        raise PermissionDenied(
            "Only the person themselves sets up their two-factor authentication."
        )


def new_secret() -> str:
    """A new TOTP secret (20 random bytes, hex), for the wizard state."""
    return random_hex(20)


def secret_for_typing(key: str) -> str:
    """The secret as an authenticator app asks for it when typed: base32, in groups."""
    text = b32encode(bytes.fromhex(key)).decode()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def setup_uri(user, key: str) -> str:
    """The otpauth:// address the QR code carries (django-otp builds it)."""
    return TOTPDevice(user=user, key=key, name=APP_DEVICE_NAME).config_url


def qr_svg(data: str) -> str:
    """The QR code as an inline SVG element: no image request, no script, nothing the
    CSP would refuse."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


def has_two_factor(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def backup_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def _clean(code: str) -> str:
    return "".join(str(code).split()).lower()


def _new_backup_codes(user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def confirm_two_factor(*, user, key: str, code: str, actor) -> tuple[TOTPDevice, list[str]]:
    """Turn two-factor authentication on for ``user`` with the secret ``key`` they
    scanned, once ``code`` proves their app has it. Returns the device and the
    backup codes, to be shown once. Refused: a wrong code (the device is not made),
    two-factor authentication already on."""
    _require_self(user, actor)
    User.objects.select_for_update().get(pk=user.pk)  # a double submit makes one device
    if has_two_factor(user):
        raise BusinessRuleError("Two-factor authentication is already on.")
    code = _clean(code)
    totp = TOTP(bytes.fromhex(key))
    totp.time = time.time()
    if not (code.isdigit() and len(code) == 6 and totp.verify(int(code), tolerance=1)):
        raise BusinessRuleError(
            "That code is not right. Type the 6-digit code your app shows for this account now.",
            field="code",
        )
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(
        user=user,
        name=APP_DEVICE_NAME,
        key=key,
        confirmed=True,
        last_t=totp.t(),  # the confirming code is used: it cannot log in again
        drift=totp.drift,
    )
    codes = _new_backup_codes(user)
    logger.info("two-factor authentication turned on for user %s", user.pk)
    return device, codes


@transaction.atomic
def regenerate_backup_codes(*, user, actor) -> list[str]:
    """New backup codes for ``user``; the old ones stop working."""
    _require_self(user, actor)
    User.objects.select_for_update().get(pk=user.pk)
    if not has_two_factor(user):
        raise BusinessRuleError("Turn two-factor authentication on first.")
    codes = _new_backup_codes(user)
    logger.info("backup codes renewed for user %s", user.pk)
    return codes


@transaction.atomic
def turn_off_two_factor(*, user, actor) -> None:
    """Remove ``user``'s app and backup codes. Refused while the practice requires
    two-factor authentication."""
    _require_self(user, actor)
    if staff_2fa_required():
        raise BusinessRuleError(
            "The practice requires two-factor authentication: it cannot be turned off."
        )
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    logger.info("two-factor authentication turned off for user %s", user.pk)


def verify_login_code(*, user, code: str):
    """The login's second step: the device that accepts ``code`` (the app's current
    code, or an unused backup code, which is then used up), or None. Part of
    authenticating ``user``, who is not logged in yet: no actor."""
    code = _clean(code)
    if not code or len(code) > 16:
        return None
    return match_token(user, code)
