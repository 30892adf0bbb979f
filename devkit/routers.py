"""The simulated gateway's tables are its own: they are read and written through
the "gateway" database alias, a second connection to the same database in
autocommit, so the app's transactions never hold, see or roll back the
processor's ledger (a real processor's charge is not undone by our rollback)."""

GATEWAY_DB = "gateway"
GATEWAY_MODELS = {"simulatedgatewaycard", "simulatedgatewaycharge", "simulatedgatewayrefund"}


def _is_gateway(model) -> bool:
    return model._meta.app_label == "devkit" and model._meta.model_name in GATEWAY_MODELS


class SimulatedGatewayRouter:
    def db_for_read(self, model, **hints):
        return GATEWAY_DB if _is_gateway(model) else None

    def db_for_write(self, model, **hints):
        return GATEWAY_DB if _is_gateway(model) else None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # one database: its schema is migrated once, through the default alias
        return False if db == GATEWAY_DB else None
