from tests.capacity import no_date_left_over_capacity  # noqa: F401
