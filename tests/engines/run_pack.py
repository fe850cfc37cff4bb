"""Run an exported rule pack and read a kubetrail lake with another engine; print JSON.

    python3 run_pack.py duckdb PACK_DIR LAKE
    python3 run_pack.py spark PACK_DIR LAKE

LAKE may be an s3:// URL (DuckDB only): DuckDB's httpfs extension then reads the bucket, with
the standard AWS variables of this process (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...) given to it
as a secret; httpfs comes from `INSTALL httpfs` or, offline, from PyPI's duckdb-extension-httpfs.

PACK_DIR holds what `kubetrail rules export --dialect ENGINE --lake LAKE --since T --until T`
wrote: each RULE_ID.sql is run as it is, as one string, through the engine's Python API (one
Spark session for every rule). LAKE is read directly too: its row count, rows per verb, and the
schema version in each file's Parquet key-value metadata.

Prints one JSON object: {"engine", "version", "rules": {RULE_ID: {"audit_ids": [...]} or
{"error": "..."}}, "lake": {"rows", "by_verb", "schema_versions"}, "seconds": {...}}.
Exit status 2 when the engine is not installed (the message names what is missing).

Used by tests/export.rs; also a by-hand check (docs/engines.md).
"""

import glob
import json
import os
import sys
import time

SCHEMA_VERSION_KEY = "kubetrail.schema_version"


def rule_files(pack):
    return sorted(glob.glob(os.path.join(pack, "*.sql")))


def data_files(lake):
    return sorted(glob.glob(os.path.join(lake, "events", "*", "*", "*.parquet")))


def s3_access(con, duckdb):
    """Load httpfs and give it this process's AWS settings, as a person would before running
    the pack over a bucket."""
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error:
        try:
            import duckdb_extension_httpfs  # PyPI's package of the extension, for offline machines

            root = os.path.dirname(duckdb_extension_httpfs.__file__)
            found = glob.glob(os.path.join(root, "extensions", "*", "httpfs.duckdb_extension"))
            con.execute(f"LOAD '{found[0]}'")
        except (ImportError, IndexError, duckdb.Error) as e:
            missing(f"DuckDB's httpfs extension ({e}); INSTALL httpfs, or pip install duckdb-extension-httpfs")
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    use_ssl = not endpoint.startswith("http://")
    host = endpoint.split("://", 1)[-1].rstrip("/")
    options = {
        "KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", ""),
        "SECRET": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        "REGION": os.environ.get("AWS_REGION", "us-east-1"),
    }
    if host:
        options.update({"ENDPOINT": host, "URL_STYLE": "path"})
    settings = ", ".join(f"{k} '{v}'" for k, v in options.items())
    con.execute(f"CREATE SECRET kubetrail_s3 (TYPE s3, {settings}, USE_SSL {str(use_ssl).lower()})")


def run_duckdb(pack, lake):
    try:
        import duckdb
    except ImportError as e:
        missing(f"duckdb ({e}); pip install duckdb")
    timings = {}
    started = time.monotonic()
    con = duckdb.connect()
    if "://" in lake:
        s3_access(con, duckdb)
    rules = {}
    for path in rule_files(pack):
        rule_id = os.path.basename(path)[: -len(".sql")]
        sql = open(path, encoding="utf-8").read()
        try:
            rows = con.execute(sql).fetchall()
            rules[rule_id] = {"audit_ids": sorted({r[0] for r in rows})}
        except Exception as e:  # the rule's failure is reported, the others still run
            rules[rule_id] = {"error": str(e)}
    timings["rules"] = time.monotonic() - started

    files = os.path.join(lake, "events", "*", "*", "*.parquet")
    source = (
        f"read_parquet('{files}', hive_partitioning = true, "
        "hive_types = {'cluster': VARCHAR, 'day': DATE}, union_by_name = true)"
    )
    rows = con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    by_verb = dict(con.execute(f"SELECT verb, count(*) FROM {source} GROUP BY verb").fetchall())
    versions = con.execute(
        f"SELECT DISTINCT decode(value) FROM parquet_kv_metadata('{files}') "
        f"WHERE decode(key) = '{SCHEMA_VERSION_KEY}'"
    ).fetchall()
    nfiles = con.execute(
        f"SELECT count(DISTINCT file_name) FROM parquet_kv_metadata('{files}') "
        f"WHERE decode(key) = '{SCHEMA_VERSION_KEY}'"
    ).fetchall()[0][0]
    return {
        "engine": "duckdb",
        "version": duckdb.__version__,
        "rules": rules,
        "lake": {
            "rows": rows,
            "by_verb": by_verb,
            "schema_versions": sorted(v[0] for v in versions),
            "files_with_version": nfiles,
            "files": con.execute(f"SELECT count(*) FROM glob('{files}')").fetchall()[0][0],
        },
        "seconds": timings,
    }


def run_spark(pack, lake):
    try:
        import pyspark
        from pyspark.sql import SparkSession
    except ImportError as e:
        missing(f"pyspark ({e}); pip install pyspark")
    if not any(
        os.access(os.path.join(d, "java"), os.X_OK)
        for d in os.environ.get("PATH", "").split(os.pathsep)
    ) and not os.environ.get("JAVA_HOME"):
        missing("java (a JRE 17 or later); apt-get install openjdk-17-jre-headless")
    timings = {}
    started = time.monotonic()
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("kubetrail-pack")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    timings["session"] = time.monotonic() - started
    started = time.monotonic()
    rules = {}
    for path in rule_files(pack):
        rule_id = os.path.basename(path)[: -len(".sql")]
        sql = open(path, encoding="utf-8").read()
        try:
            rows = spark.sql(sql).collect()
            rules[rule_id] = {"audit_ids": sorted({r["audit_id"] for r in rows})}
        except Exception as e:  # the rule's failure is reported, the others still run
            rules[rule_id] = {"error": str(e).splitlines()[0] if str(e) else repr(e)}
    timings["rules"] = time.monotonic() - started

    started = time.monotonic()
    events = spark.read.parquet(os.path.join(lake, "events"))
    rows = events.count()
    by_verb = {r["verb"]: r["n"] for r in events.groupBy("verb").count().withColumnRenamed("count", "n").collect()}
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    versions = set()
    with_version = 0
    for f in data_files(lake):
        input_file = jvm.org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(
            jvm.org.apache.hadoop.fs.Path("file://" + os.path.abspath(f)), conf
        )
        reader = jvm.org.apache.parquet.hadoop.ParquetFileReader.open(input_file)
        try:
            kv = reader.getFooter().getFileMetaData().getKeyValueMetaData()
            v = kv.get(SCHEMA_VERSION_KEY)
        finally:
            reader.close()
        if v is not None:
            versions.add(v)
            with_version += 1
    timings["lake"] = time.monotonic() - started
    version = pyspark.__version__
    spark.stop()
    return {
        "engine": "spark",
        "version": version,
        "rules": rules,
        "lake": {
            "rows": rows,
            "by_verb": by_verb,
            "schema_versions": sorted(versions),
            "files_with_version": with_version,
            "files": len(data_files(lake)),
        },
        "seconds": timings,
    }


def missing(what):
    print(f"missing: {what}", file=sys.stderr)
    sys.exit(2)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("duckdb", "spark"):
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    engine, pack, lake = sys.argv[1:]
    run = run_duckdb if engine == "duckdb" else run_spark
    print(json.dumps(run(pack, lake), sort_keys=True))


if __name__ == "__main__":
    main()
