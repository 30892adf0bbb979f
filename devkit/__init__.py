"""The development kit: what a checkout needs and production never loads.

The embedded PostgreSQL (devdb) and the launcher of ``make run``, the demo
practice (``manage.py seed_demo``), the mailbox that keeps sent emails for staff
to read at /dev/mail/, and the simulated card processor with its vault and
ledger. The settings install this app only outside production
(``OPUS_ENV=development``), and the production image installs neither its
embedded PostgreSQL nor its psutil (both in the dev dependency group).

Importing this package imports nothing: the test plugin loads ``devkit.devdb``
before Django is set up.
"""
