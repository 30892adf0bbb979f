"""One correction an issued invoice accepts: a credit appended to an OPEN invoice.

Migration 0004 froze issued invoices. Money no longer owed on an open invoice
(sessions moved to another payer) is taken off it by appending a credit line,
never by editing what was billed, so the invoice keeps its number and its
history. The backstop allows exactly that and nothing more:

- a line may be inserted into an issued invoice only if the invoice is open,
  the line is a credit, and it is no more than the balance (total less
  payments); lines of issued invoices are still never changed or removed;
- an issued invoice's total may change only while it is open, only downwards,
  only to what its lines add up to, and never below what was paid.

Everything else 0004 refuses stays refused.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION billing_invoice_line_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    invoice_status text;
    invoice_total numeric;
    paid numeric;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT status INTO invoice_status FROM billing_invoice WHERE id = OLD.invoice_id;
        IF invoice_status IS NOT NULL AND invoice_status <> 'draft' THEN
            RAISE EXCEPTION 'invoice_line_frozen: invoice % is %, its lines cannot change',
                OLD.invoice_id, invoice_status USING ERRCODE = '23514';
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT status, total INTO invoice_status, invoice_total
            FROM billing_invoice WHERE id = NEW.invoice_id;
        IF invoice_status IS NOT NULL AND invoice_status <> 'draft' THEN
            IF TG_OP = 'INSERT' AND invoice_status = 'open' AND NEW.kind = 'credit' THEN
                SELECT COALESCE(SUM(amount), 0) INTO paid
                    FROM billing_payment WHERE invoice_id = NEW.invoice_id;
                IF NEW.amount > invoice_total - paid THEN
                    RAISE EXCEPTION 'invoice_line_frozen: a credit of % is more than the balance of invoice %',
                        NEW.amount, NEW.invoice_id USING ERRCODE = '23514';
                END IF;
            ELSE
                RAISE EXCEPTION 'invoice_line_frozen: invoice % is %, its lines cannot change',
                    NEW.invoice_id, invoice_status USING ERRCODE = '23514';
            END IF;
        END IF;
        RETURN NEW;
    END IF;
    RETURN OLD;
END;
$$;

CREATE OR REPLACE FUNCTION billing_invoice_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    lines_total numeric;
    paid numeric;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.number IS NOT NULL THEN
            RAISE EXCEPTION 'invoice_frozen: invoice number % cannot be deleted', OLD.number
                USING ERRCODE = '23514';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' THEN
        IF (NEW.number, NEW.payer_id, NEW.relationship_id, NEW.currency, NEW.issued_on)
           IS DISTINCT FROM
           (OLD.number, OLD.payer_id, OLD.relationship_id, OLD.currency, OLD.issued_on)
        THEN
            RAISE EXCEPTION 'invoice_frozen: issued invoice % cannot be edited', OLD.number
                USING ERRCODE = '23514';
        END IF;
        IF NEW.total IS DISTINCT FROM OLD.total THEN
            SELECT GREATEST(COALESCE(SUM(CASE WHEN kind = 'charge' THEN amount ELSE -amount END), 0), 0)
                INTO lines_total FROM billing_invoiceline WHERE invoice_id = OLD.id;
            SELECT COALESCE(SUM(amount), 0) INTO paid FROM billing_payment WHERE invoice_id = OLD.id;
            IF NOT (OLD.status = 'open' AND NEW.total < OLD.total
                    AND NEW.total = lines_total AND NEW.total >= paid) THEN
                RAISE EXCEPTION 'invoice_frozen: issued invoice % cannot be edited', OLD.number
                    USING ERRCODE = '23514';
            END IF;
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
"""

# 0004's functions, as they were.
BACKWARD = r"""
CREATE OR REPLACE FUNCTION billing_invoice_line_frozen() RETURNS trigger
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

CREATE OR REPLACE FUNCTION billing_invoice_frozen() RETURNS trigger
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
"""


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_issued_invoices_are_frozen")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
