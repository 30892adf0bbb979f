"""The client's address, read in one place (opus/lib/clientip.py): X-Forwarded-For
is believed only as far as it was written by the proxies in OPUS_TRUSTED_PROXIES."""

import subprocess
import sys

import pytest
from django.test import RequestFactory

from opus.lib.clientip import client_ip
from tests.support.deployment import PRODUCTION, ROOT, clean_env, production_settings


def request(remote="203.0.113.9", forwarded=None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


def test_without_trusted_proxies_the_peer_is_the_client(settings):
    settings.OPUS_TRUSTED_PROXIES = []
    assert client_ip(request("203.0.113.9")) == "203.0.113.9"


def test_without_trusted_proxies_a_forwarded_for_header_is_ignored(settings):
    settings.OPUS_TRUSTED_PROXIES = []
    assert client_ip(request("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_address_it_saw_is_the_client(settings):
    settings.OPUS_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(request("10.0.0.2", "198.51.100.1")) == "198.51.100.1"


def test_an_address_the_client_wrote_itself_is_ignored(settings):
    """The client sent "X-Forwarded-For: 192.0.2.66"; the proxy appended the
    address it saw. Only the rightmost untrusted entry counts."""
    settings.OPUS_TRUSTED_PROXIES = ["10.0.0.2"]
    assert client_ip(request("10.0.0.2", "192.0.2.66, 198.51.100.1")) == "198.51.100.1"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right(settings):
    settings.OPUS_TRUSTED_PROXIES = ["10.0.0.0/8", "172.16.0.1"]
    forwarded = "192.0.2.66, 198.51.100.1, 172.16.0.1,10.1.2.3"
    assert client_ip(request("10.0.0.2", forwarded)) == "198.51.100.1"


def test_an_untrusted_peer_is_the_client_whatever_it_forwards(settings):
    settings.OPUS_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(request("198.51.100.7", "10.0.0.3, 192.0.2.66")) == "198.51.100.7"


def test_a_request_from_the_proxy_itself_is_the_proxy(settings):
    settings.OPUS_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(request("10.0.0.2")) == "10.0.0.2"
    assert client_ip(request("10.0.0.2", "")) == "10.0.0.2"


@pytest.mark.parametrize("garbage", ["not-an-ip", "198.51.100.1:5555", "<script>", "\x00"])
def test_garbage_in_the_header_stops_the_walk_at_the_last_address_vouched_for(settings, garbage):
    settings.OPUS_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(request("10.0.0.2", f"198.51.100.1, {garbage}")) == "10.0.0.2"
    assert client_ip(request("10.0.0.2", f"{garbage}, 10.0.0.9")) == "10.0.0.9"


def test_ipv6_and_ipv4_mapped_addresses(settings):
    settings.OPUS_TRUSTED_PROXIES = ["fd00::/8", "10.0.0.0/8"]
    assert client_ip(request("fd00::1", "2001:DB8::5")) == "2001:db8::5"
    assert client_ip(request("::ffff:10.0.0.2", "198.51.100.1")) == "198.51.100.1"


def test_no_peer_address_at_all(settings):
    settings.OPUS_TRUSTED_PROXIES = []
    assert client_ip(request("")) is None
    assert client_ip(request("not-an-address")) is None


def test_a_setting_that_is_not_an_address_or_network_stops_the_start():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=clean_env(
            **PRODUCTION,
            DJANGO_SETTINGS_MODULE="opus.settings",
            DATABASE_URL="postgres://u:p@db:5432/opus",
            OPUS_TRUSTED_PROXIES="10.0.0.0/8, the-proxy",
        ),
    )
    assert result.returncode != 0
    assert "OPUS_TRUSTED_PROXIES" in result.stderr and "the-proxy" in result.stderr


def test_the_setting_is_a_comma_list_of_addresses_and_networks():
    printed = production_settings(
        "s.OPUS_TRUSTED_PROXIES", OPUS_TRUSTED_PROXIES=" 10.0.0.1, 172.16.0.0/12,,fd00::/8 "
    )
    assert printed == "['10.0.0.1/32', '172.16.0.0/12', 'fd00::/8']"


def test_by_default_no_proxy_is_trusted():
    assert production_settings("s.OPUS_TRUSTED_PROXIES") == "[]"
