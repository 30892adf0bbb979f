from django.db import migrations

# What is booked under a relationship is booked for its attendee: a composite
# foreign key onto relationship (id, attendee_id) holds it in the database.
FORWARD = """
ALTER TABLE scheduling_subscription
  ADD CONSTRAINT subscription_client_is_attendee
  FOREIGN KEY (relationship_id, client_id)
  REFERENCES relationships_relationship (id, attendee_id);
ALTER TABLE scheduling_booking
  ADD CONSTRAINT booking_client_is_attendee
  FOREIGN KEY (relationship_id, client_id)
  REFERENCES relationships_relationship (id, attendee_id);
"""
BACKWARD = """
ALTER TABLE scheduling_subscription DROP CONSTRAINT subscription_client_is_attendee;
ALTER TABLE scheduling_booking DROP CONSTRAINT booking_client_is_attendee;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0001_initial"),
        ("relationships", "0001_initial"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
