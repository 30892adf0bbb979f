"""Two-factor authentication (issue 12): a TOTP app set up from the account menu,
confirmed by a code; then the login asks for the code after the password (the
admin's too), counted for the lockout like the password; backup codes work once;
and when the practice requires it, a user without it can reach nothing but its setup."""

import re
from base64 import b32decode
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.test import Client as HttpClient
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from opus import practice as practices
from opus import two_factor
from opus.lib.errors import BusinessRuleError
from opus.models import PracticeChange, User
from tests.factories import PASSWORD, UserFactory
from tests.support.practice import settings_form
from tests.support.web import assert_security_headers, logged_in

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def code_for(key: str, at=None) -> str:
    return f"{totp(bytes.fromhex(key)):06d}"


def secret_on(page) -> str:
    """The key the setup page shows for typing (its text fallback), as hex."""
    match = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', page.content.decode())
    assert match, "no secret on the page"
    return b32decode(match.group(1).replace(" ", "")).hex()


def set_up(client) -> tuple[str, list[str]]:
    page = client.get(reverse("two-factor"))
    key = secret_on(page)
    response = client.post(reverse("two-factor"), {"code": code_for(key)})
    assert response["Location"] == reverse("two-factor-backup-codes")
    codes = client.get(reverse("two-factor-backup-codes")).context["codes"]
    return key, codes


def with_device(user) -> tuple[str, list[str]]:
    device, codes = two_factor.confirm_two_factor(
        user=user,
        key=(key := two_factor.new_secret()),
        code=code_for(key),
        actor=user,
    )
    device.last_t = -1  # the confirming code may log in again in these tests
    device.save()
    return key, codes


def login(client, username="therapist", password=PASSWORD, next_url=""):
    data = {"username": username, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("login") + (f"?next={next_url}" if next_url else ""), data)


# --- setup -----------------------------------------------------------------------------------


def test_the_account_menu_leads_to_the_setup(therapist_client):
    page = therapist_client.get(reverse("scheduling:schedule"))
    html = page.content.decode()
    link = html[html.index(f'href="{reverse("two-factor")}"') :]
    assert link[: link.index("</a>")].endswith("Two-factor authentication")


def test_setup_shows_a_qr_code_and_the_key_and_confirms_only_with_a_right_code(
    frozen, therapist, therapist_client
):
    page = therapist_client.get(reverse("two-factor"))
    assert page.status_code == 200
    assert_security_headers(page)
    html = page.content.decode()
    assert "<svg" in html and "style=" not in html.split("<svg", 1)[1].split("</svg>")[0]
    key = secret_on(page)
    assert (
        therapist_client.get(reverse("two-factor"))
        .content.decode()
        .count(two_factor.secret_for_typing(key))
        == 1
    )  # the same key on reload
    wrong = f"{(int(code_for(key)) + 1) % 1_000_000:06d}"
    response = therapist_client.post(reverse("two-factor"), {"code": wrong})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=therapist).exists()

    response = therapist_client.post(reverse("two-factor"), {"code": code_for(key)})
    assert response["Location"] == reverse("two-factor-backup-codes")
    device = TOTPDevice.objects.get(user=therapist)
    assert device.confirmed and device.key == key
    assert therapist_client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    codes = therapist_client.get(reverse("two-factor-backup-codes"))
    assert len(codes.context["codes"]) == 10
    for code in codes.context["codes"]:
        assert code in codes.content.decode()
    # shown once
    assert therapist_client.get(reverse("two-factor-backup-codes"))["Location"] == reverse(
        "two-factor"
    )
    # a second submit of the same form makes nothing more
    again = therapist_client.post(reverse("two-factor"), {"code": code_for(key)})
    assert again.status_code == 302
    assert TOTPDevice.objects.filter(user=therapist).count() == 1
    assert (
        "Two-factor authentication is on"
        in therapist_client.get(reverse("two-factor")).content.decode()
    )


def test_an_empty_or_hostile_code_is_answered_with_the_form(therapist_client):
    for code in ("", "abc", "9" * 40, "1234567"):
        response = therapist_client.post(reverse("two-factor"), {"code": code})
        assert response.status_code == 200
        assert 'class="error"' in response.content.decode()


def test_new_backup_codes_replace_the_old_ones(frozen, therapist, therapist_client):
    _, old = set_up(therapist_client)
    response = therapist_client.post(reverse("two-factor-backup-codes"))
    new = therapist_client.get(response["Location"]).context["codes"]
    tokens = set(StaticToken.objects.filter(device__user=therapist).values_list("token", flat=True))
    assert tokens == set(new) and not tokens & set(old)


def test_turning_it_off_and_the_requirement_refusing_that(
    frozen, therapist, therapist_client, settings
):
    set_up(therapist_client)
    settings.OPUS_STAFF_2FA_REQUIRED = True
    response = therapist_client.post(reverse("two-factor-off"), follow=True)
    assert "cannot be turned off" in response.content.decode()
    assert TOTPDevice.objects.filter(user=therapist).exists()
    settings.OPUS_STAFF_2FA_REQUIRED = False
    therapist_client.post(reverse("two-factor-off"))
    assert not TOTPDevice.objects.filter(user=therapist).exists()
    assert not StaticToken.objects.filter(device__user=therapist).exists()


def test_turning_off_is_a_post(therapist_client):
    assert therapist_client.get(reverse("two-factor-off")).status_code == 405


# --- the login ---------------------------------------------------------------------------------


def test_with_a_device_the_login_asks_for_the_code_after_the_password(frozen, therapist):
    key, _ = with_device(therapist)
    client = HttpClient()
    response = login(client, next_url="/clients/")
    assert response["Location"] == reverse("login-code")
    assert SESSION_KEY not in client.session  # not logged in yet
    assert client.get(reverse("scheduling:schedule")).status_code == 302
    page = client.get(reverse("login-code"))
    assert page.status_code == 200
    assert "6-digit code" in page.content.decode()
    response = client.post(reverse("login-code"), {"code": code_for(key)})
    assert response["Location"] == "/clients/"
    assert client.session[SESSION_KEY] == str(therapist.pk)
    assert client.get("/clients/").status_code == 200


def test_a_wrong_code_is_refused_clearly_and_counted_for_the_lockout(frozen, therapist):
    key, _ = with_device(therapist)
    client = HttpClient()
    login(client)
    response = client.post(reverse("login-code"), {"code": "000000"})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert AccessAttempt.objects.get(username="therapist").failures_since_start == 1
    assert "000000" not in AccessAttempt.objects.get().post_data  # never stored
    for _ in range(4):
        response = client.post(reverse("login-code"), {"code": "000000"})
    assert response.status_code == 429  # the fifth failure locks, as for the password
    # locked: neither the right code nor the password gets in now
    client.post(reverse("login-code"), {"code": code_for(key)})
    assert SESSION_KEY not in client.session
    assert login(HttpClient()).status_code == 429
    assert SESSION_KEY not in client.session


def test_a_code_cannot_be_used_twice(frozen, therapist):
    key, _ = with_device(therapist)
    first, second = HttpClient(), HttpClient()
    login(first)
    login(second)
    assert first.post(reverse("login-code"), {"code": code_for(key)}).status_code == 302
    assert second.post(reverse("login-code"), {"code": code_for(key)}).status_code == 200
    frozen.shift(timedelta(seconds=30))
    assert second.post(reverse("login-code"), {"code": code_for(key)}).status_code == 302


def test_a_backup_code_works_once(frozen, therapist):
    _, codes = with_device(therapist)
    client = HttpClient()
    login(client)
    response = client.post(reverse("login-code"), {"code": codes[0].upper()}, follow=True)
    assert response.redirect_chain[0][0] == reverse("home")
    assert "You used a backup code: 9 left." in response.content.decode()
    again = HttpClient()
    login(again)
    response = again.post(reverse("login-code"), {"code": codes[0]})
    assert response.status_code == 200
    assert SESSION_KEY not in again.session


def test_the_code_step_needs_a_password_first_and_expires(frozen, therapist):
    key, _ = with_device(therapist)
    assert HttpClient().get(reverse("login-code"))["Location"] == reverse("login")
    client = HttpClient()
    login(client)
    frozen.shift(timedelta(minutes=6))
    response = client.post(reverse("login-code"), {"code": code_for(key)})
    assert response["Location"] == reverse("login")
    assert SESSION_KEY not in client.session


def test_without_a_device_the_login_is_as_before(therapist):
    client = HttpClient()
    assert login(client)["Location"] == reverse("home")
    assert client.session[SESSION_KEY] == str(therapist.pk)


def test_the_admin_login_goes_through_the_same_two_steps(frozen):
    boss = UserFactory(username="boss", role=User.Role.STAFF, is_staff=True, is_superuser=True)
    key, _ = with_device(boss)
    client = HttpClient()
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/login/?next=/admin/"
    response = login(client, "boss", next_url="/admin/")
    assert response["Location"] == reverse("login-code")
    assert client.get("/admin/").status_code == 302
    response = client.post(reverse("login-code"), {"code": code_for(key)})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


# --- the practice's requirement -------------------------------------------------------------


def test_when_required_a_user_without_it_reaches_only_its_setup(frozen, settings, staff):
    settings.OPUS_STAFF_2FA_REQUIRED = True
    client = HttpClient()
    response = login(client, "staff")
    assert client.get(response["Location"])["Location"] == reverse("two-factor")
    for path in ("/clients/", "/schedule/", "/admin/", reverse("password_change")):
        assert client.get(path)["Location"] == reverse("two-factor"), path
    htmx = client.get("/clients/", headers={"HX-Request": "true"})
    assert htmx["HX-Redirect"] == reverse("two-factor")
    page = client.get(reverse("two-factor"))
    assert "The practice requires two-factor authentication" in page.content.decode()
    set_up(client)
    assert client.get("/clients/").status_code == 200
    # and they can log out without it
    other = logged_in(UserFactory(role=User.Role.PRACTITIONER))
    assert other.post(reverse("logout"))["Location"] == reverse("login")


def test_when_required_a_session_that_skipped_the_code_ends(frozen, settings, therapist):
    with_device(therapist)
    client = logged_in(therapist)  # a session that never passed the code
    assert client.get("/clients/").status_code == 200  # not required: as before
    settings.OPUS_STAFF_2FA_REQUIRED = True
    assert client.get("/clients/")["Location"] == reverse("login")
    assert SESSION_KEY not in client.session


def test_when_not_required_nobody_is_sent_to_the_setup(staff_client):
    assert staff_client.get("/clients/").status_code == 200


def test_the_admin_never_shows_a_device_secret_or_backup_codes(frozen, therapist):
    key, codes = with_device(therapist)
    boss = UserFactory(role=User.Role.STAFF, is_staff=True, is_superuser=True)
    admin = logged_in(boss)
    device = TOTPDevice.objects.get(user=therapist)
    page = admin.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk])).content.decode()
    assert key not in page and two_factor.secret_for_typing(key) not in page
    listing = admin.get(reverse("admin:otp_static_staticdevice_changelist")).content.decode()
    static = therapist.staticdevice_set.get()
    page = admin.get(reverse("admin:otp_static_staticdevice_change", args=[static.pk]))
    for code in codes:
        assert code not in page.content.decode() and code not in listing


# --- the requirement as a practice setting --------------------------------------------------


def _require_from_the_settings_page(client):
    return client.post(
        reverse("practice-settings"), settings_form(require_two_factor="on"), follow=True
    )


def test_staff_turn_the_requirement_on_in_practice_settings(frozen, staff, therapist):
    with_device(staff)
    staff_client = logged_in(staff)
    practitioner = logged_in(therapist)
    assert practitioner.get("/clients/").status_code == 200
    page = _require_from_the_settings_page(staff_client).content.decode()
    assert "Practice settings saved." in page
    assert practices.saved().require_two_factor
    history = PracticeChange.objects.get().changes
    assert [item["label"] for item in history] == ["Require two-factor authentication for the team"]
    # the practitioner, who has no app yet, reaches only its setup from the next request
    assert practitioner.get("/clients/")["Location"] == reverse("two-factor")
    # and nobody can turn their own off while the practice requires it
    with pytest.raises(BusinessRuleError, match="cannot be turned off"):
        two_factor.turn_off_two_factor(user=staff, actor=staff)
    assert TOTPDevice.objects.filter(user=staff).exists()


def test_the_requirement_needs_the_staff_member_to_have_it_first(frozen, staff):
    client = logged_in(staff)
    response = _require_from_the_settings_page(client)
    page = response.content.decode()
    assert "Turn on two-factor authentication for your own account first" in page
    assert "Nothing was saved" in page
    assert not practices.saved().require_two_factor
    assert client.get("/clients/").status_code == 200  # not locked out of anything


def test_the_deployment_can_force_the_requirement_and_the_page_says_so(frozen, settings, staff):
    key, _ = with_device(staff)
    settings.OPUS_STAFF_2FA_REQUIRED = True
    client = HttpClient()
    login(client, "staff")
    client.post(reverse("login-code"), {"code": code_for(key)})
    page = client.get(reverse("practice-settings")).content.decode()
    assert "Required for the whole team by the server" in page
    settings.OPUS_STAFF_2FA_REQUIRED = False
    page = client.get(reverse("practice-settings")).content.decode()
    assert "Required for the whole team by the server" not in page
