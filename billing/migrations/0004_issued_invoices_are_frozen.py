"""An issued invoice is never edited in place, whoever writes to the database.

- Lines can be added, changed or removed only while their invoice is a draft.
- A numbered invoice is never deleted, its number, payer, relationship,
  currency, total and issue date never change, it never goes back to draft, and
  paid, void and closed are final.
- Payments are never deleted, their amount, currency and invoice never change,
  and a payment is recorded only against an open invoice.

The services check the same rules first, with messages a user can read; these
triggers are the backstop (SQLSTATE 23514, so Django raises IntegrityError).
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION billing_invoice_line_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    invoice_status text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT status INTO invoice_status FROM billing_invoice WHERE id = OLD.invoice_id;
        IF invoice_status IS NOT NULL AND invoice_status <> 'draft' THEN
            RAISE EXCEPTION 'invoice_line_frozen: invoice % is %, its lines cannot change',
                OLD.invoice_id, invoice_status USING ERRCODE = '23514';
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT status INTO invoice_status FROM billing_invoice WHERE id = NEW.invoice_id;
        IF invoice_status IS NOT NULL AND invoice_status <> 'draft' THEN
            RAISE EXCEPTION 'invoice_line_frozen: invoice % is %, its lines cannot change',
                NEW.invoice_id, invoice_status USING ERRCODE = '23514';
        END IF;
        RETURN NEW;
    END IF;
    RETURN OLD;
END;
$$;

CREATE TRIGGER billing_invoice_line_frozen
BEFORE INSERT OR UPDATE OR DELETE ON billing_invoiceline
FOR EACH ROW EXECUTE FUNCTION billing_invoice_line_frozen();

CREATE FUNCTION billing_invoice_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.number IS NOT NULL THEN
            RAISE EXCEPTION 'invoice_frozen: invoice number % cannot be deleted', OLD.number
                USING ERRCODE = '23514';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' THEN
        IF (NEW.number, NEW.payer_id, NEW.relationship_id, NEW.currency, NEW.total, NEW.issued_on)
           IS DISTINCT FROM
           (OLD.number, OLD.payer_id, OLD.relationship_id, OLD.currency, OLD.total, OLD.issued_on)
        THEN
            RAISE EXCEPTION 'invoice_frozen: issued invoice % cannot be edited', OLD.number
                USING ERRCODE = '23514';
        END IF;
        IF NEW.status IS DISTINCT FROM OLD.status
           AND (NEW.status = 'draft' OR OLD.status IN ('paid', 'void', 'closed')) THEN
            RAISE EXCEPTION 'invoice_frozen: invoice % cannot go from % to %',
                OLD.number, OLD.status, NEW.status USING ERRCODE = '23514';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER billing_invoice_frozen
BEFORE UPDATE OR DELETE ON billing_invoice
FOR EACH ROW EXECUTE FUNCTION billing_invoice_frozen();

CREATE FUNCTION billing_payment_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'payment_frozen: payment % cannot be deleted', OLD.id
            USING ERRCODE = '23514';
    END IF;
    IF (NEW.invoice_id, NEW.amount, NEW.currency) IS DISTINCT FROM
       (OLD.invoice_id, OLD.amount, OLD.currency) THEN
        RAISE EXCEPTION 'payment_frozen: payment % cannot be edited', OLD.id
            USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER billing_payment_frozen
BEFORE UPDATE OR DELETE ON billing_payment
FOR EACH ROW EXECUTE FUNCTION billing_payment_frozen();

-- AFTER, so the table's own CHECK constraints speak first about a bad row.
CREATE FUNCTION billing_payment_on_open_invoice() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    invoice_status text;
BEGIN
    SELECT status INTO invoice_status FROM billing_invoice WHERE id = NEW.invoice_id;
    IF invoice_status IS DISTINCT FROM 'open' THEN
        RAISE EXCEPTION 'payment_on_open_invoice: invoice % is %, not open',
            NEW.invoice_id, invoice_status USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER billing_payment_on_open_invoice
AFTER INSERT ON billing_payment
FOR EACH ROW EXECUTE FUNCTION billing_payment_on_open_invoice();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS billing_payment_on_open_invoice ON billing_payment;
DROP FUNCTION IF EXISTS billing_payment_on_open_invoice();
DROP TRIGGER IF EXISTS billing_payment_frozen ON billing_payment;
DROP FUNCTION IF EXISTS billing_payment_frozen();
DROP TRIGGER IF EXISTS billing_invoice_frozen ON billing_invoice;
DROP FUNCTION IF EXISTS billing_invoice_frozen();
DROP TRIGGER IF EXISTS billing_invoice_line_frozen ON billing_invoiceline;
DROP FUNCTION IF EXISTS billing_invoice_line_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_card_request_email_failed")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
