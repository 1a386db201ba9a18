"""Google BigQuery destination: a Parquet load job (``load_table_from_file``) into a staging table, then one
script that ``MERGE``s it into the table by primary key and moves the position in ``_ledger_sync_state``,
inside ``BEGIN TRANSACTION ... COMMIT TRANSACTION`` (BigQuery's multi-statement transaction).

The staging table ``_stage_<table>`` is a plain table loaded with ``WRITE_TRUNCATE``: a sync killed after
the load leaves it behind, and the next sync overwrites it. Options: ``project``, ``dataset`` (default
``ledger``), ``location``; ``credentials_file`` (a service-account JSON; default: Application Default
Credentials), ``api_endpoint`` and ``anonymous: true`` for an emulator.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from ledger_pipeline.warehouse.base import Destination, fault_point
from ledger_pipeline.warehouse.tables import (
    STATE_COLUMNS,
    STATE_TABLE,
    ExportTable,
    descriptions,
    table_description,
)


def _transient_errors() -> tuple[type[BaseException], ...]:
    import requests
    from google.api_core import exceptions as gexc

    return (gexc.ServiceUnavailable, gexc.InternalServerError, gexc.TooManyRequests, gexc.GatewayTimeout,
            gexc.BadGateway, requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            ConnectionError, TimeoutError)


class BigQueryDestination(Destination):
    dialect = "bigquery"

    def __init__(self, config):
        super().__init__(config)
        self.transient_errors = _transient_errors()
        self.project = str(config.option("project", required=True))
        self.dataset = str(config.option("dataset", "ledger"))
        self.location = config.option("location")
        self.api_endpoint = config.option("api_endpoint")
        self.anonymous = bool(config.option("anonymous", False))
        self.credentials_file = config.option("credentials_file")
        # BIGNUMERIC holds the ledger's 38-digit amounts; NUMERIC only 29 integer digits. ``amount_type:
        # NUMERIC`` exists for engines without BIGNUMERIC (the bqemulator package cannot create it).
        self.amount_type = str(config.option("amount_type", "BIGNUMERIC")).upper()
        if self.amount_type not in ("BIGNUMERIC", "NUMERIC"):
            raise ValueError(f"target {config.name!r}: amount_type must be BIGNUMERIC or NUMERIC")
        self.client = None
        self.q(self.dataset)  # validate the identifier

    def describe(self) -> str:
        where = f" at {self.api_endpoint}" if self.api_endpoint else ""
        return f"bigquery {self.project}.{self.dataset}{where}"

    def open(self) -> None:
        from google.cloud import bigquery

        kwargs = {"project": self.project}
        if self.location:
            kwargs["location"] = self.location
        if self.api_endpoint:
            kwargs["client_options"] = {"api_endpoint": self.api_endpoint}
        if self.anonymous:
            from google.auth.credentials import AnonymousCredentials
            kwargs["credentials"] = AnonymousCredentials()
        elif self.credentials_file:
            from google.oauth2 import service_account
            kwargs["credentials"] = service_account.Credentials.from_service_account_file(self.credentials_file)
        self.client = bigquery.Client(**kwargs)
        dataset = bigquery.Dataset(f"{self.project}.{self.dataset}")
        if self.location:
            dataset.location = self.location
        self.client.create_dataset(dataset, exists_ok=True)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def column_type(self, kind: str) -> str:
        return self.amount_type if kind == "amount" else super().column_type(kind)

    def q(self, name: str) -> str:
        """BigQuery quotes identifiers with backticks (double quotes are strings there)."""
        return "`" + super().q(name).strip('"') + "`"

    def _ref(self, table: str) -> str:
        return f"{self.project}.{self.dataset}.{table}"

    def _sql_name(self, table: str) -> str:
        return f"`{self.project}`.{self.q(self.dataset)}.{self.q(table)}"

    def _schema(self, columns, table_name: str | None = None):
        """BigQuery schema fields; with ``table_name``, each with the registry's description."""
        from google.cloud import bigquery

        texts = descriptions(table_name, tuple(columns))[1] if table_name else {}
        return [bigquery.SchemaField(name, self.column_type(kind), description=texts.get(name))
                for name, kind in columns]

    def _ensure(self, table_name: str, columns) -> None:
        """Create the table if missing, with its description and column descriptions; add missing
        columns; update descriptions that differ from the registry's."""
        from google.cloud import bigquery

        wanted = bigquery.Table(self._ref(table_name), schema=self._schema(columns, table_name))
        wanted.description = table_description(table_name)
        found = self.client.create_table(wanted, exists_ok=True)
        texts = descriptions(table_name, tuple(columns))[1]
        names = {c.lower() for c in (field.name for field in found.schema)}
        missing = [(n, k) for n, k in columns if n.lower() not in names]
        stale = any(field.description != texts.get(field.name) for field in found.schema if field.name in texts)
        if missing or stale or found.description != wanted.description:
            fields = [bigquery.SchemaField(f.name, f.field_type, mode=f.mode, description=texts.get(f.name, f.description))
                      for f in found.schema]
            found.schema = fields + self._schema(missing, table_name)
            found.description = wanted.description
            self.client.update_table(found, ["schema", "description"])

    def _query(self, sql: str, params=None):
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=params or [])
        return self.client.query(sql, job_config=config)

    def positions(self) -> dict[str, int]:

        self._ensure(STATE_TABLE, STATE_COLUMNS)
        rows = self._query(f"SELECT table_name, position FROM {self._sql_name(STATE_TABLE)}").result()
        return {row[0]: int(row[1]) for row in rows}

    def ensure_table(self, table: ExportTable) -> None:
        self._ensure(table.name, table.all_columns)

    def _state_merge(self, values: str = "@table_name AS table_name, @position AS position, @rows AS rows_last_sync") -> str:
        return (
            f"MERGE {self._sql_name(STATE_TABLE)} t USING (SELECT {values}, "
            "CURRENT_TIMESTAMP() AS synced_at) s ON t.table_name = s.table_name "
            "WHEN MATCHED THEN UPDATE SET position = s.position, rows_last_sync = s.rows_last_sync, "
            "synced_at = s.synced_at WHEN NOT MATCHED THEN INSERT (table_name, position, rows_last_sync, synced_at) "
            "VALUES (s.table_name, s.position, s.rows_last_sync, s.synced_at)"
        )

    def _state_params(self, table: ExportTable, position: int, rows: int):
        from google.cloud import bigquery

        return [bigquery.ScalarQueryParameter("table_name", "STRING", table.name),
                bigquery.ScalarQueryParameter("position", "INT64", position),
                bigquery.ScalarQueryParameter("rows", "INT64", rows)]

    def merge_script(self, table: ExportTable, position: int, rows: int) -> str:
        """The merge and the position move as one multi-statement transaction. The values are written as
        literals (not parameters: script parameters are not supported everywhere, e.g. by the emulator);
        they are a registry table name (a validated identifier) and two ints, never outside input."""
        merge = self.merge_sql(table, self._sql_name(table.name), self._sql_name(f"_stage_{table.name}"))
        values = (f"'{self.q(table.name).strip('`')}' AS table_name, CAST({int(position)} AS INT64) AS position, "
                  f"CAST({int(rows)} AS INT64) AS rows_last_sync")
        return f"BEGIN TRANSACTION;\n{merge};\n{self._state_merge(values)};\nCOMMIT TRANSACTION;"

    def write(self, table: ExportTable, data: pa.Table, position: int) -> None:
        from google.cloud import bigquery

        buffer = io.BytesIO()
        pq.write_table(data, buffer)
        buffer.seek(0)
        job_config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
            schema=self._schema(table.all_columns),
        )
        self.client.load_table_from_file(buffer, self._ref(f"_stage_{table.name}"), job_config=job_config,
                                         rewind=True).result()
        fault_point("after_stage", table.name)
        job = self._query(self.merge_script(table, position, data.num_rows))
        fault_point("during_merge", table.name)
        job.result()

    def record_position(self, table: ExportTable, position: int) -> None:
        self._query(self._state_merge(), self._state_params(table, position, 0)).result()

    def fetch_rows(self, table_name: str) -> list[dict]:
        """Every row of a destination table (for verification: tests, contract checks)."""
        rows = self._query(f"SELECT * FROM {self._sql_name(table_name)}").result()
        return [{k.lower(): v for k, v in row.items()} for row in rows]
