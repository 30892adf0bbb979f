import pytest

from opus.lib.parsing import parse_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("42", 42),
        (" 7 ", 7),
        ("0", 0),
        ("", None),
        (None, None),
        ("-3", None),
        ("4.0", None),
        ("²", None),  # str.isdigit() says yes, int() refuses it
        ("٣", None),  # an Arabic-Indic three: int() would take it, an id is ASCII
        ("9" * 19, None),  # beyond a bigint
    ],
)
def test_parse_id_takes_only_ascii_digits_that_fit_an_id(raw, expected):
    assert parse_id(raw) == expected
