"""The ttpflow job graph, source- and sink-agnostic: raw records in, named output streams out.

    raw ─ analyze (Python: normalize → detect → binding facts) ─┬─ dead letters, events
                                                                └─ rows ─ WATERMARK (JVM)
      rows ─┬─ hits ─────────────────────────────────────┬─ hits ─┬─ signals
            ├─ conns ─ per network rule: window ─ decide ─┘        ├─ late (behind the watermark)
            │                                   (Python)           └─ on time ─ link ─┬─ per JVM rule ─ score ─ alerts
            └─ facts ─ bindings (versioned tables per kind) ─────────────────────┘      └─ Python-path rules ─┘

One Python operator per event (analyze), stateless; event time, linking and correlation run in
Flink's JVM operators through SQL (per JVM rule: MATCH_RECOGNIZE, or an OVER aggregation with a JVM
function; udfs/correlate/sql). Rules with no faithful SQL form yet run on the Python keyed
correlator, fed only their hits (``ttpflow rules check --explain`` lists them). Scoring is Python:
a hit's risk in analyze, an alert's severity in the score step (udfs.score). Hits of rules that
ask for deduplication pass one OVER aggregation first (udfs.detect.dedupe_sql); without such rules
the graph has no such step. Suppression (udfs.suppress, docs/suppression.md) comes before all of it:
analyze decides the stateless rules per hit (suppressed hits leave as its ``suppressed`` side
output, like dead letters); hits a companion rule holds meet the companion events in one interval
join (``_companion_join``), present only when an active rule has a companion.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pyflink.common.typeinfo import Types
from pyflink.datastream import BroadcastStream, DataStream, MapFunction
from pyflink.table import ChangelogMode, DataTypes, Schema, StreamTableEnvironment, Table

from jobs.uids import to_stream_with_uids
from schemas.config import JobConfig
from schemas.network import NetworkRule
from udfs.analyze import COLUMN_NAMES, COLUMNS
from udfs.baseline import sql as baseline_sql
from udfs.baseline.state import Settings as BaselineSettings
from udfs.correlate.plan import FALLBACK_TAG, CorrelationPlan
from udfs.correlate.rules import load_ruleset
from udfs.correlate.sql import progression, sigma
from udfs.correlate.sql.chains import CHAIN_COLUMNS
from udfs.correlate.sql.common import MATCH_COLUMNS, interval_sql, millis_sql
from udfs.correlate.sql.python_path import PYTHON_PATH_COLUMNS
from udfs.correlate.sql.queries import (
    CHAINED_VIEW,
    jvm_rule_queries,
    network_rule_queries,
    ordered_rule_queries,
    rule_prefix,
)
from udfs.detect.dedupe_sql import dedupe_sql, passthrough_sql
from udfs.detect.dedupe_sql import state_ttl_ms as dedupe_state_ttl_ms
from udfs.detect.detector import dedupe_windows
from udfs.flink_functions import (
    ALERTS_TAG,
    CHAINED_TAG,
    CONTEXT_STATE,
    DEAD_LETTER_TAG,
    EVENTS_TAG,
    LATE_TAG,
    SUPPRESSED_TAG,
    AnalyzeFunction,
    ChainedMatches,
    Correlator,
    MatchAlerts,
    NetworkHits,
    PythonPathRoute,
    ScoreFunction,
    WithContext,
    record_key,
)
from udfs.link.sql import KINDS as BINDING_KINDS
from udfs.link.sql import linking_stages
from udfs.network import sql as network_sql
from udfs.network.behavior import WINDOWED
from udfs.network.rules import load_network_rules
from udfs.score import Scorer
from udfs.suppress import companion_rules, load_suppressor
from udfs.suppress import sql as suppress_sql

# Raw records from any source: ("kafka", topic, partition, offset, payload) or ("file", path, -1, line, payload)
RAW_RECORD_TYPE = Types.ROW_NAMED(
    ["kind", "name", "partition", "offset", "payload"],
    [Types.STRING(), Types.STRING(), Types.INT(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())],
)
_FLINK_TYPES = {
    "STRING": Types.STRING(), "BIGINT": Types.LONG(), "BOOLEAN": Types.BOOLEAN(),
    "ARRAY<STRING>": Types.BASIC_ARRAY(Types.STRING()),
    "MAP<STRING, STRING>": Types.MAP(Types.STRING(), Types.STRING()),
}
# One type for every rule's matches, so that they union (literals would type as CHAR(n) per rule).
MATCH_ROW = DataTypes.ROW([DataTypes.FIELD(name, DataTypes.STRING()) for name in MATCH_COLUMNS])
ANALYZED_TYPE = Types.ROW_NAMED([n for n, _ in COLUMNS], [_FLINK_TYPES[t] for _, t in COLUMNS])
CHAIN_TYPE = Types.ROW_NAMED([n for n, _ in CHAIN_COLUMNS], [_FLINK_TYPES[t] for _, t in CHAIN_COLUMNS])


@dataclass(frozen=True)
class Outputs:
    """Every stream leaves as JSON strings; nothing leaves the main path without a named output."""

    alerts: DataStream
    signals: DataStream
    dead_letters: DataStream
    late: DataStream
    events: DataStream  # every normalized event, when config.emit_events (file runs that want them)
    suppressed: DataStream  # hits suppression rules took: the rule, its reason, the hit (udfs.suppress)


def watermark_sql(config: JobConfig) -> str:
    """Records at or behind the watermark are late in Flink SQL's operators; the bound (and the
    allowed lateness, which SQL has no other place for) sit in the watermark delay. The extra
    millisecond makes it the DataStream API's bounded-out-of-orderness watermark."""
    delay_ms = config.out_of_orderness_ms + config.allowed_lateness_ms + 1
    return f"rt - {interval_sql(delay_ms)}"


def build(raw: DataStream, config: JobConfig, t_env: StreamTableEnvironment | None = None) -> Outputs:
    t_env = t_env or StreamTableEnvironment.create(raw.get_execution_environment())
    t_env.get_config().set_local_timezone("UTC")  # windows aligned to the epoch, as udfs.network.windows
    plan = CorrelationPlan(load_ruleset(config.rules_dir, config.sigma_paths))
    Scorer.from_config(config)  # a bad inventory or role table fails here, with file and line, not in a worker
    load_suppressor(config.rules_dir, config.assets_path, announce=True)  # the same; expired rules: a warning

    context_dead: list[DataStream] = []
    updates = _context_updates(t_env, config, context_dead)  # None without context sources: today's graph
    analyzed = _scoring(raw, AnalyzeFunction(config), _broadcast(updates), ANALYZED_TYPE).uid("analyze").name(
        "analyze")
    rows = t_env.from_data_stream(
        analyzed,
        Schema.new_builder().column_by_expression("rt", "TO_TIMESTAMP_LTZ(ts, 3)")
        .watermark("rt", watermark_sql(config)).build(),
    )
    t_env.create_temporary_view("analyzed", rows)
    own_hits = "SELECT * FROM analyzed WHERE kind = 'hit'"
    suppressed = analyzed.get_side_output(SUPPRESSED_TAG)  # decided per hit in analyze (stateless rules)
    companion_suppressed = _companion_join(t_env, config)
    if companion_suppressed is not None:  # held hits no companion came for rejoin the main path
        own_hits += " UNION ALL SELECT * FROM companion_released"
        suppressed = to_stream_with_uids(  # one type for the union: SQL strings and Python strings differ
            t_env, t_env.from_data_stream(suppressed).union_all(companion_suppressed), "suppressed",
            DataTypes.STRING())
    network = load_network_rules(config.rules_dir)
    if any(rule.analytic in WINDOWED for rule in network):
        _register_network_hits(t_env, config, network, _broadcast(updates))
        own_hits += " UNION ALL SELECT * FROM network_hits"
    t_env.execute_sql(f"CREATE TEMPORARY VIEW hits AS {own_hits}")
    kept = _deduplicate_hits(t_env, config)  # what becomes signals and feeds correlation
    # CURRENT_WATERMARK is NULL before the first watermark: nothing is late then. Only the
    # Python-path rules read a hit's full JSON: the joins do not carry it for the others.
    carried = ", ".join(name for name in COLUMN_NAMES if name not in ("kind", "val", "signal"))
    t_env.execute_sql(
        f"CREATE TEMPORARY VIEW hits_on_time AS SELECT rt, {carried}, "
        f"CASE WHEN ARRAY_CONTAINS(tags, '{FALLBACK_TAG}') THEN signal END AS signal FROM {kept} "
        "WHERE CARDINALITY(tags) > 0 AND (CURRENT_WATERMARK(rt) IS NULL OR rt > CURRENT_WATERMARK(rt))"
    )
    _register_bindings(t_env)
    for name, query in linking_stages("hits_on_time", config.binding_max_age_ms):
        _materialize(t_env, name, t_env.sql_query(query))

    context = _broadcast(_alert_context_updates(t_env, config, updates, kept, context_dead))
    alerts = [_jvm_alerts(t_env, plan, config, context)] if plan.has_jvm else []
    python_late: list[DataStream] = []
    if plan.has_python:
        scored, python_late = _python_path_alerts(t_env, config, context)
        alerts.append(scored)
    lateness = config.allowed_lateness_ms
    late = t_env.sql_query(
        "SELECT '{\"reason\":\"behind_watermark\",\"watermark_ms\":' || "
        f"CAST({millis_sql('CURRENT_WATERMARK(rt)')} + {lateness} AS STRING) || "
        f"',\"allowed_lateness_ms\":{lateness},\"hit\":' || signal || '}}' FROM hits WHERE rt <= CURRENT_WATERMARK(rt)"
    )
    for stream in python_late:  # one type for the union: SQL strings and Python strings differ
        late = late.union_all(t_env.from_data_stream(stream))
    if not alerts:  # no correlation rules at all: an empty alert stream of the right type
        alerts = [to_stream_with_uids(t_env, t_env.sql_query("SELECT signal FROM hits WHERE FALSE"), "no-alerts",
                                      DataTypes.STRING())]
    return Outputs(
        alerts=alerts[0].union(*alerts[1:]) if len(alerts) > 1 else alerts[0],
        signals=to_stream_with_uids(t_env, t_env.sql_query(f"SELECT signal FROM {kept}"), "signals",
                                    DataTypes.STRING()),
        dead_letters=analyzed.get_side_output(DEAD_LETTER_TAG).union(*context_dead) if context_dead
        else analyzed.get_side_output(DEAD_LETTER_TAG),
        late=to_stream_with_uids(t_env, late, "late", DataTypes.STRING()),
        events=analyzed.get_side_output(EVENTS_TAG),
        suppressed=suppressed,
    )


def _materialize(t_env: StreamTableEnvironment, name: str, table: Table, prefix: str | None = None) -> None:
    """``table`` as view ``name``, through a DataStream (all in the JVM): what reads the view plans
    against a plain source, and the work behind it runs once however many queries read it."""
    stream = to_stream_with_uids(t_env, table, prefix or name)
    t_env.create_temporary_view(
        name, t_env.from_data_stream(stream, Schema.new_builder().watermark("rt", "SOURCE_WATERMARK()").build())
    )


def _companion_join(t_env: StreamTableEnvironment, config: JobConfig) -> Table | None:
    """Companion suppression (udfs.suppress.sql): the held hits against the companion events, one
    interval join; registers ``companion_released`` (held hits that met no companion, as hit rows)
    and returns the suppressed records. None, and no operator, when no active rule has a companion."""
    rules = [loaded.rule for loaded in companion_rules(config.rules_dir)]
    if not rules:
        return None
    query = suppress_sql.join_sql(rules, "analyzed", COLUMN_NAMES)
    _materialize(t_env, suppress_sql.JOINED_VIEW, t_env.sql_query(query),
                 prefix=f"suppress-companion-{hashlib.sha256(query.encode()).hexdigest()[:10]}")
    t_env.create_temporary_view(
        "companion_released", t_env.sql_query(suppress_sql.released_sql((*COLUMN_NAMES, "rt"))))
    return t_env.sql_query(suppress_sql.suppressed_sql(rules))


def _register_network_hits(t_env: StreamTableEnvironment, config: JobConfig, rules: list[NetworkRule],
                           context: BroadcastStream | None = None) -> None:
    """``network_hits``: the windowed network rules' hits, as analyzed rows. A window's hit has the
    window's last millisecond as its time, which the watermark that closes the window has not yet
    passed downstream (it follows the row), so it links and correlates like any hit."""
    windows = []
    by_id = {rule.id: rule for rule in rules}
    for rule_id, (view, query) in network_rule_queries(rules).items():
        t_env.create_temporary_view(view, t_env.sql_query(network_sql.connections_sql(by_id[rule_id])))
        windows.append(to_stream_with_uids(t_env, t_env.sql_query(query), rule_prefix(rule_id, query)))
    windowed = windows[0].union(*windows[1:]) if len(windows) > 1 else windows[0]
    rows = _scoring(windowed, NetworkHits(config), context, ANALYZED_TYPE).uid("network-hits").name(
        "network behaviour hits")
    t_env.create_temporary_view("network_hits", t_env.from_data_stream(
        rows, Schema.new_builder().column_by_expression("rt", "TO_TIMESTAMP_LTZ(ts, 3)")
        .watermark("rt", "SOURCE_WATERMARK()").build()))


def _deduplicate_hits(t_env: StreamTableEnvironment, config: JobConfig) -> str:
    """The view of the hits that become signals and feed correlation: ``hits`` itself, unless some
    rule asks for deduplication (udfs.detect.dedupe); then ``hits_kept``: those rules' hits through
    one OVER aggregation (udfs.detect.dedupe_sql; its uid follows its SQL), every other hit as it was."""
    windows = dedupe_windows(config.rules_dir, config.sigma_paths)
    if not windows:
        return "hits"
    query = dedupe_sql(windows, "hits", (*COLUMN_NAMES, "rt"))
    table_config = t_env.get_config()
    before = table_config.get("table.exec.state.ttl", "0 ms")
    # Idle-state retention for this operator only: the planner reads it when it translates the query.
    ttl = dedupe_state_ttl_ms(windows, config.out_of_orderness_ms, config.allowed_lateness_ms)
    table_config.set("table.exec.state.ttl", f"{ttl} ms")
    try:
        prefix = f"dedupe-{hashlib.sha256(query.encode()).hexdigest()[:10]}"
        stream = to_stream_with_uids(t_env, t_env.sql_query(query), prefix)
    finally:
        table_config.set("table.exec.state.ttl", before)
    t_env.create_temporary_view("hits_deduped", t_env.from_data_stream(
        stream, Schema.new_builder().watermark("rt", "SOURCE_WATERMARK()").build()))
    t_env.execute_sql(
        f"CREATE TEMPORARY VIEW hits_kept AS {passthrough_sql(windows, 'hits')} UNION ALL SELECT * FROM hits_deduped"
    )
    return "hits_kept"


def _register_bindings(t_env: StreamTableEnvironment) -> None:
    """The binding facts as versioned tables, one per subject kind (``bindings_ip``, ...): every
    fact a version of its subject at its event time (declaring the key makes the insert-only stream a
    versioned table; no fact is dropped, so a fact that arrives late within the bound is still the
    version valid at its time). Per kind, each lookup keeps only the versions it can use."""
    schema = (
        Schema.new_builder()
        .column("subject", DataTypes.STRING().not_null()).column("val", DataTypes.STRING())
        .column("ts", DataTypes.BIGINT()).column("rt", DataTypes.TIMESTAMP_LTZ(3))
        .primary_key("subject").watermark("rt", "SOURCE_WATERMARK()").build()
    )
    for kind in BINDING_KINDS:
        query = f"SELECT id AS subject, val, ts, rt FROM analyzed WHERE kind = 'fact' AND id LIKE '{kind}:%'"
        facts = to_stream_with_uids(t_env, t_env.sql_query(query), f"facts-{kind}")
        t_env.create_temporary_view(
            f"bindings_{kind}", t_env.from_changelog_stream(facts, schema, ChangelogMode.insert_only())
        )


def _jvm_alerts(t_env: StreamTableEnvironment, plan: CorrelationPlan, config: JobConfig,
                context: BroadcastStream | None = None) -> DataStream:
    """Every JVM-path rule's matches as one stream (:data:`MATCH_COLUMNS`), scored in Python."""
    for module in (progression, sigma):
        t_env.execute_sql(
            f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {module.FUNCTION} AS '{module.JAVA_CLASS}' LANGUAGE JAVA"
        )
    streams = {rule_id: _rule_matches(t_env, rule_id, query) for rule_id, query in jvm_rule_queries(plan).items()}
    alerts = [s for rule_id, s in streams.items() if rule_id not in plan.chained]
    chained = None
    if plan.chained:  # inner correlations: their matches come back as rows of the rules over them
        inner = [streams[rule_id] for rule_id in sorted(plan.chained)]
        matches = inner[0].union(*inner[1:]) if len(inner) > 1 else inner[0]
        rows = _scoring(matches, ChainedMatches(config), context, CHAIN_TYPE).uid("chained-matches").name(
            "inner correlation matches")
        t_env.create_temporary_view(CHAINED_VIEW, t_env.from_data_stream(
            rows, Schema.new_builder().column_by_expression("rt", "TO_TIMESTAMP_LTZ(ts, 3)")
            .watermark("rt", "SOURCE_WATERMARK()").build()))
        chained = rows.get_side_output(ALERTS_TAG)
    alerts += [_rule_matches(t_env, rule_id, query) for rule_id, query in ordered_rule_queries(plan).items()]
    rows = alerts[0].union(*alerts[1:]) if len(alerts) > 1 else alerts[0]
    scored = _scoring(rows, MatchAlerts(config), context, Types.STRING()).uid("score-matches").name(
        "score JVM matches")
    return scored.union(chained) if chained is not None else scored


def _rule_matches(t_env: StreamTableEnvironment, rule_id: str, query: str) -> DataStream:
    """One rule's matches, planned on its own: uids per rule (jobs.uids)."""
    matches = t_env.sql_query(query)
    assert tuple(matches.get_schema().get_field_names()) == MATCH_COLUMNS
    return to_stream_with_uids(t_env, matches, rule_prefix(rule_id, query), MATCH_ROW)


def _python_path_alerts(t_env: StreamTableEnvironment, config: JobConfig,
                        context: BroadcastStream | None = None) -> tuple[DataStream, list[DataStream]]:
    """Rules with no SQL form yet: the Python keyed correlator, fed only the hits tagged for them."""
    linked = t_env.sql_query(
        f"SELECT {', '.join(PYTHON_PATH_COLUMNS)} FROM linked WHERE ARRAY_CONTAINS(tags, '{FALLBACK_TAG}')"
    )
    routed = _scoring(t_env.to_data_stream(linked), PythonPathRoute(config), context, None).uid("python-route").name(
        "route")
    first = (
        routed.key_by(record_key, key_type=Types.STRING())
        .process(Correlator(config, stage=1)).uid("correlate").name("correlate (python path)")
    )
    chained = (
        routed.get_side_output(CHAINED_TAG).union(first.get_side_output(CHAINED_TAG))
        .key_by(record_key, key_type=Types.STRING())
        .process(Correlator(config, stage=2)).uid("correlate-chained").name("correlate chained (python path)")
    )
    scored = _scoring(first.union(chained), ScoreFunction(config), context, Types.STRING()).name("score")
    return scored, [first.get_side_output(LATE_TAG), chained.get_side_output(LATE_TAG)]


def baseline_updates(t_env: StreamTableEnvironment, config: JobConfig, rows_view: str) -> DataStream | None:
    """Adaptive baselines (udfs.baseline.sql): the baseline keys of ``rows_view``'s hits counted per
    event-time hour, one ``baseline`` context update (JSON text) per key and closed window, for the
    alert scorers' context broadcast. The job passes ``analyzed`` (the hits before deduplication and
    the union with network hits): the split and the local count chain into the analyze task, so no
    hit row crosses a thread for it. Its operators' uids are fixed (``baseline-windows-<n>``), so a
    changed half-life keeps the open windows. None, and no operator, under --no-baselines."""
    if config.baseline_half_life_ms is None:
        return None
    t_env.create_temporary_view("baseline_hits", t_env.sql_query(baseline_sql.exploded_sql(rows_view)))
    query = baseline_sql.updates_sql("baseline_hits", BaselineSettings().window_ms, config.baseline_half_life_ms)
    return to_stream_with_uids(t_env, t_env.sql_query(query), "baseline-windows", DataTypes.STRING())


# -- context as broadcast state (udfs.context, docs/scoring.md "Context from Kafka topics") ----------


def _context_updates(t_env: StreamTableEnvironment, config: JobConfig,
                     dead_letters: list[DataStream]) -> DataStream | None:
    """Every context source's updates (JSON of udfs.context.updates.ContextUpdate) that analyze and the
    alert scorers read, as one stream, or None, and no operator, when the job has none: then the graph
    is the graph without context. Each source appends the dead letters it makes to ``dead_letters``.
    Sources computed from the hits cannot feed analyze (a cycle): they go in _alert_context_updates."""
    from jobs.context_sources import context_topic_updates

    sources = context_topic_updates(t_env, config, dead_letters)  # --assets-topic, --identities-topic, ...
    return _union_updates(t_env, sources, "context-updates")


def _alert_context_updates(t_env: StreamTableEnvironment, config: JobConfig, updates: DataStream | None,
                           hits_view: str, dead_letters: list[DataStream]) -> DataStream | None:
    """What the alert scorers' broadcast carries: ``updates``, the sources computed from the hits
    of ``hits_view`` (adaptive baselines, udfs.baseline), and analysts' verdicts joined to the alerts
    topic (jobs.feedback: its dead letters go to ``dead_letters``), one line each."""
    from jobs.feedback import verdict_updates  # analysts' verdicts (--feedback-topic): only alerts weigh them

    sources = [s for s in (updates, baseline_updates(t_env, config, "analyzed"),
                           verdict_updates(t_env, config, dead_letters)) if s is not None]
    return _union_updates(t_env, sources, "alert-context-updates")


def _union_updates(t_env: StreamTableEnvironment, sources: list[DataStream], prefix: str) -> DataStream | None:
    """The sources as one stream of update JSON strings (None without any). SQL's strings
    (ExternalTypeInfo) do not union with Python's (String): a mix unions as tables, in the JVM, with
    uids ``<prefix>-<n>``."""
    if len(sources) <= 1:
        return sources[0] if sources else None
    kinds = {s._j_data_stream.getType().getClass().getSimpleName() for s in sources}
    if len(kinds) == 1:
        return sources[0].union(*sources[1:])
    tables = [t_env.from_data_stream(s) for s in sources]
    union = tables[0]
    for table in tables[1:]:
        union = union.union_all(table)
    return to_stream_with_uids(t_env, union, prefix, DataTypes.STRING())


def _broadcast(updates: DataStream | None) -> BroadcastStream | None:
    """The context broadcast (MapState "context": ``kind|key`` -> update JSON), or None without one."""
    return None if updates is None else updates.broadcast(CONTEXT_STATE)


def _scoring(stream: DataStream, function: Any, context: BroadcastStream | None, output_type: Any) -> DataStream:
    """``function`` (a map or process function that scores) on ``stream``; with the context broadcast
    connected when there is one (udfs.flink_functions.WithContext; the caller keeps the operator's uid)."""
    if context is not None:
        return stream.connect(context).process(WithContext(function), output_type=output_type)
    if isinstance(function, MapFunction):
        return stream.map(function, output_type=output_type)
    return stream.process(function, output_type=output_type)
