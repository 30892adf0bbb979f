class BusinessRuleError(Exception):
    """A rule of the practice refused the operation; the message is for the user.

    ``field`` names the form field the message belongs to, when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
