"""What billing announces to the apps above it, which it never imports."""

from django.dispatch import Signal

# A client added a card through an emailed link. Sent with ``client``, inside the
# transaction that saved the card, so a receiver's writes commit or fail with it.
card_added = Signal()
