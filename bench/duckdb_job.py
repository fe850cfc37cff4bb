"""The peer's side of the benchmark: what an analyst would do with DuckDB by hand.

    python duckdb_job.py convert INPUT OUT.parquet   # read_json with an explicit schema, COPY to Parquet
    python duckdb_job.py query PARQUET               # the three queries; prints one JSON line of timings

Run by bench/run inside the harness's own virtualenv (pip install duckdb); never used by kubetrail.
"""

import json
import sys
import time

import duckdb

# The audit Event with request and response bodies kept as JSON text, as an analyst would type it.
COLUMNS = {
    "kind": "VARCHAR",
    "apiVersion": "VARCHAR",
    "level": "VARCHAR",
    "auditID": "VARCHAR",
    "stage": "VARCHAR",
    "requestURI": "VARCHAR",
    "verb": "VARCHAR",
    "user": "STRUCT(username VARCHAR, uid VARCHAR, groups VARCHAR[], extra MAP(VARCHAR, VARCHAR[]))",
    "impersonatedUser": "STRUCT(username VARCHAR, uid VARCHAR, groups VARCHAR[], extra MAP(VARCHAR, VARCHAR[]))",
    "sourceIPs": "VARCHAR[]",
    "userAgent": "VARCHAR",
    "objectRef": "STRUCT(resource VARCHAR, namespace VARCHAR, name VARCHAR, uid VARCHAR, apiGroup VARCHAR, apiVersion VARCHAR, resourceVersion VARCHAR, subresource VARCHAR)",
    "responseStatus": "STRUCT(status VARCHAR, message VARCHAR, reason VARCHAR, code INTEGER)",
    "requestObject": "JSON",
    "responseObject": "JSON",
    "requestReceivedTimestamp": "TIMESTAMP",
    "stageTimestamp": "TIMESTAMP",
    "annotations": "MAP(VARCHAR, VARCHAR)",
}

# The three detection queries of the benchmark, on DuckDB's own file (same answers as
# bench/queries.sql on kubetrail's lake).
QUERIES = {
    "q1-secret-reads-by-people": """
        SELECT "user".username AS username, count(*) AS n
        FROM read_parquet('{p}')
        WHERE objectRef.resource = 'secrets' AND verb IN ('get', 'list', 'watch')
          AND stage = 'ResponseComplete' AND NOT starts_with("user".username, 'system:')
        GROUP BY 1 ORDER BY n DESC, username""",
    "q2-anonymous-requests": """
        SELECT sourceIPs[1] AS source_ip, count(*) AS n, min(requestReceivedTimestamp) AS first,
               max(requestReceivedTimestamp) AS last
        FROM read_parquet('{p}')
        WHERE "user".username = 'system:anonymous' AND stage = 'ResponseComplete'
        GROUP BY 1 ORDER BY n DESC, source_ip""",
    "q3-clusterrolebinding-writes": """
        SELECT requestReceivedTimestamp AS ts, "user".username AS username, verb, objectRef.name AS name,
               json_extract_string(requestObject, '$.roleRef.name') AS role
        FROM read_parquet('{p}')
        WHERE objectRef.resource = 'clusterrolebindings' AND verb IN ('create', 'update', 'patch', 'delete')
          AND stage = 'ResponseComplete'
        ORDER BY ts""",
}


def convert(src: str, out: str) -> None:
    cols = ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items())
    duckdb.sql(
        f"""COPY (SELECT * FROM read_json('{src}', format = 'newline_delimited', columns = {{{cols}}},
                                          maximum_object_size = 67108864))
            TO '{out}' (FORMAT parquet, COMPRESSION zstd)"""
    )


def query(parquet: str) -> None:
    timings = {}
    con = duckdb.connect()
    for name, sql in QUERIES.items():
        started = time.perf_counter()
        rows = con.execute(sql.format(p=parquet)).fetchall()
        timings[name] = {"seconds": time.perf_counter() - started, "rows": len(rows)}
    print(json.dumps(timings))


if __name__ == "__main__":
    if sys.argv[1:2] == ["convert"] and len(sys.argv) == 4:
        convert(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["query"] and len(sys.argv) == 3:
        query(sys.argv[2])
    elif sys.argv[1:2] == ["version"]:
        print(duckdb.__version__)
    else:
        sys.exit(__doc__)
