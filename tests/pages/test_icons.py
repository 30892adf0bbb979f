"""The icon set: a subset of Lucide vendored with its licence (no CDN), written
inline by {% icon %} and hidden from assistive technology, next to a text label
that stays what a screen reader reads."""

import re

import pytest
from django.template import Context, Template
from django.urls import reverse

from opus.templatetags.opus import ICONS, icon_markup


def test_an_icon_is_inline_svg_hidden_from_assistive_technology():
    html = Template('<a href="/">{% icon "calendar" %}Schedule</a>').render(Context())
    assert html.startswith('<a href="/"><svg class="icon" aria-hidden="true"')
    assert "<rect" in html and html.endswith("</svg>Schedule</a>")
    assert "style=" not in html and "<script" not in html  # nothing the CSP must allow


@pytest.mark.parametrize("name", ["no-such-icon", "../LICENSE", "Calendar"])
def test_an_unknown_icon_is_an_error_not_an_empty_space(name):
    with pytest.raises(ValueError, match="no icon"):
        icon_markup(name)


def test_the_vendored_icons_keep_their_licence():
    assert "ISC License" in (ICONS / "LICENSE").read_text()
    for path in ICONS.glob("*.svg"):
        assert "@license lucide-static" in path.read_text(), path.name


@pytest.mark.django_db
def test_the_navigation_shows_an_icon_beside_each_label(staff_client):
    page = staff_client.get(reverse("clients:list")).content.decode()
    nav = page[page.index('<nav aria-label="Main"') : page.index("</nav>")]
    links = re.findall(r"<a\b[^>]*>(.*?)</a>", nav, re.DOTALL)
    assert len(links) >= 5
    for link in links:
        assert link.startswith('<svg class="icon" aria-hidden="true"'), link[:80]
        assert re.search(r"<span>\w[\w ]*</span>$", link), link[-60:]
