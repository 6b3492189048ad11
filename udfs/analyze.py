"""The one Python step per event: raw bytes -> normalize -> detect -> binding facts, as typed rows.

Everything stateful happens after this step, in Flink's JVM operators (see :mod:`jobs.pipeline`), so
this step hands over exactly what they need and nothing more, as flat typed rows:

- a **hit row** per technique hit: its id and event time, the tags of the rule steps it matches
  (:mod:`udfs.correlate.plan`), what linking needs (the host the event names, its addresses as
  binding subjects, the user as the inventory and the name give it, learned-principal subjects),
  a compact evidence JSON, and the full hit JSON (``signal``: the signals output, the ``late``
  output and the Python-path rules read it);
- a **connection row** per connection a windowed network behaviour rule counts (``kind = 'conn'``:
  tags name those rules, ``keys`` hold src, dst, port and bytes out), which SQL windows
  (:mod:`udfs.network.sql`); a ``long_connection`` rule's hit is an ordinary hit row;
- a **fact row** per binding fact (``ip:`` / ``session:`` / ``principal:`` subject -> value at
  event time), which SQL turns into a versioned table for event-time temporal joins. A logoff is a
  fact of its own subject (``logoff:<user>|<host>``): it ends the session only if the session is
  still on that host, which the join checks.

Dead letters and (when asked for) the normalized events leave as JSON text. No record may stop the
job by its size: a dead letter keeps at most ``dead_letter_max_bytes`` of the payload
(:class:`schemas.dead_letter.DeadLetter`), and a record whose hit rows would not fit the Kafka
sinks goes to the dead letter as ``oversized_output`` (:mod:`udfs.sink_limits`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas.config import JobConfig
from schemas.event import Origin
from udfs.baseline.keys import BASE_KEY, baseline_keys, scope_of
from udfs.correlate.drafts import evidence_of
from udfs.correlate.fields import scalar
from udfs.correlate.plan import CorrelationPlan
from udfs.correlate.rules import load_ruleset
from udfs.detect.detector import Detector, load_detector
from udfs.link.canonical import bindable_ip, canonical_user, is_service_account
from udfs.link.facts import binding_facts, own_host
from udfs.link.inventory import InventoryIndex, load_inventory
from udfs.network.behavior import Connection, NetworkBehavior, connection_of
from udfs.network.rules import load_network_rules
from udfs.normalize.normalizer import Normalizer, Outcome
from udfs.redact import redact
from udfs.score import Scorer
from udfs.sink_limits import SinkLimits
from udfs.suppress import load_suppressor
from udfs.suppress.match import filter_record

# (name, SQL type) of the analyzed row, in order. jobs.pipeline derives the Flink types from this.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("kind", "STRING"),  # 'hit' | 'fact' | 'conn' | 'held' | 'companion' (udfs.suppress.sql)
    ("ts", "BIGINT"),  # event time, ms
    ("id", "STRING"),  # hit id | fact subject
    ("val", "STRING"),  # fact value | held / companion: the companion join key (udfs.suppress.sql)
    ("rule_id", "STRING"),
    ("tags", "ARRAY<STRING>"),
    ("keys", "MAP<STRING, STRING>"),
    ("own_host", "STRING"),  # the host that recorded the event (inventory name), endpoint telemetry only
    ("hit_host", "STRING"),  # the hit's own host / user fields, as the detector set them
    ("hit_host_key", "STRING"),
    ("hit_user", "STRING"),
    ("hit_user_key", "STRING"),
    ("src_subj", "STRING"),  # ip:<source address> when it can name a host
    ("dst_subj", "STRING"),
    ("src_static", "STRING"),  # the inventory's host for that address
    ("dst_static", "STRING"),
    ("user_known", "STRING"),  # the inventory's user for any of the event's identifiers
    ("user_canon", "STRING"),  # the canonical spelling of the event's user name
    ("known_svc", "BOOLEAN"),
    ("canon_svc", "BOOLEAN"),
    ("p1", "STRING"),  # principal:<identifier> subjects, in lookup order
    ("p2", "STRING"),
    ("p3", "STRING"),
    ("p4", "STRING"),
    ("ev", "STRING"),  # evidence entry without the linked host / user
    ("signal", "STRING"),  # the hit as JSON
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)
_HIT_FIELDS = len(COLUMNS) - 4


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass
class Analysis:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    dead_letter: str | None = None
    event: str | None = None
    source_format: str | None = None
    reason: str | None = None  # the dead-letter reason
    suppressed: list[str] = field(default_factory=list)  # suppressed records (udfs.suppress), JSON
    event_ms: int | None = None  # the event's time (udfs.metrics: event-time lag)


def conn_row(conn: Connection, event: dict[str, Any], rule_ids: list[str]) -> tuple[Any, ...]:
    keys = {"src": conn.src, "dst": conn.dst, "port": None if conn.port is None else str(conn.port),
            "out": None if conn.bytes_out is None else str(conn.bytes_out)}
    return ("conn", conn.ts, event.get("id") or event["raw_sha256"], None, None, rule_ids, keys,
            *([None] * (_HIT_FIELDS - 3)))


def _dead(outcome: Outcome) -> Analysis:
    letter = outcome.dead_letter or {}
    return Analysis(dead_letter=_json(letter), source_format=outcome.source_format, reason=str(letter.get("reason")))


def fact_row(fact: dict[str, Any]) -> tuple[Any, ...]:
    subject, value = fact["subject"], fact["value"]
    if value is None:  # an end: only of the session on that host (see module doc)
        subject, value = f"logoff:{subject.split(':', 1)[1]}|{fact.get('if_value')}", fact.get("if_value")
    return ("fact", fact["ts"], subject, value, *([None] * _HIT_FIELDS))


class Analyzer:
    def __init__(self, config: JobConfig, *, detector: Detector | None = None,
                 plan: CorrelationPlan | None = None, inventory: InventoryIndex | None = None) -> None:
        limits, kept = config.limits(), config.dead_letter_max_bytes
        self.default = Normalizer(config.default_format, limits=limits, dead_letter_max_bytes=kept)
        self.by_topic = {t: Normalizer(f, limits=limits, dead_letter_max_bytes=kept)
                         for t, f in config.topic_formats.items()}
        self.sink_limits = SinkLimits.of(config)
        self.detector = detector or load_detector(config.rules_dir, config.sigma_paths)
        inventory = inventory or load_inventory(config.assets_path)
        self.hit_rows = HitRows(plan or CorrelationPlan(load_ruleset(config.rules_dir, config.sigma_paths)),
                                inventory, Scorer.from_config(config, inventory),
                                redact_signals=not config.keep_raw_in_signals,
                                baselines=config.baseline_half_life_ms is not None)
        self.network = NetworkBehavior(load_network_rules(config.rules_dir))
        self.emit_events = config.emit_events
        self.suppressor = load_suppressor(config.rules_dir, config.assets_path, inventory=inventory)

    def analyze(self, kind: str, name: str, partition: int, offset: int, payload: bytes) -> Analysis:
        origin = Origin(topic=name, partition=partition, offset=offset) if kind == "kafka" else \
            Origin(file=name, line=offset)
        normalizer = self.by_topic.get(name, self.default)
        outcome = normalizer.normalize(payload, origin)
        event = outcome.event
        if event is None:
            return _dead(outcome)
        out = Analysis(source_format=outcome.source_format, event_ms=event["timestamp_ms"],
                       event=_json(self.hit_rows.outgoing(event)) if self.emit_events else None)
        out.rows = [fact_row(f) for f in binding_facts(event)]
        hits = self.detector.detect(event)
        conn = connection_of(event) if self.network else None
        if conn is not None:
            hits = hits + self.network.record_hits(event, conn)
            feeds = self.network.feeds(conn)
            if feeds:
                out.rows.append(conn_row(conn, event, feeds))
        for hit, sfilter in self.detector.filtered(event):  # matches Sigma filters took: suppressed, not lost
            row = self.hit_rows.row(hit, event)
            why = self.sink_limits.check_hit(row)
            if why:
                return _dead(normalizer.dead_letter(payload, origin, "oversized_output", why, outcome.source_format))
            out.suppressed.append(filter_record(sfilter.filter_id, sfilter.title, row[-1]))
        if self.suppressor:
            hits, why = self._suppress(hits, event, out)
            if why:
                return _dead(normalizer.dead_letter(payload, origin, "oversized_output", why, outcome.source_format))
        out.rows += [self.hit_rows.row(hit, event) for hit in hits]
        too_big = self.sink_limits.check(out.rows)
        if too_big:  # a Kafka sink would refuse it and fail the job: the record leaves as a dead letter
            return _dead(normalizer.dead_letter(payload, origin, "oversized_output", too_big, outcome.source_format))
        return out

    def _suppress(self, hits: list[dict[str, Any]], event: dict[str, Any],
                  out: Analysis) -> tuple[list[dict[str, Any]], str | None]:
        """The hits that stay on the main path; suppressed ones become records, held ones ``held``
        rows, and the event's companion rows are added (udfs.suppress). Also: why a suppressed
        record would not fit the sinks, or None."""
        kept = []
        for hit in hits:
            verdict = self.suppressor.check(hit, event)
            if verdict is None:
                kept.append(hit)
                continue
            row = self.hit_rows.row(hit, event)
            if verdict.how == "match":
                why = self.sink_limits.check_hit(row)
                if why:
                    return [], why
                out.suppressed.append(self.suppressor.record(verdict, row[-1]))
            else:
                out.rows.append(("held", row[1], row[2], verdict.key, *row[4:]))
        for rule, key in self.suppressor.companions(event, hits):
            out.rows.append(("companion", event["timestamp_ms"], event.get("id") or event["raw_sha256"], key,
                             rule.id, *([None] * (_HIT_FIELDS - 1))))
        return kept, None


class HitRows:
    """A hit (and its event) as the hit row: the tags of the rule steps it matches, the link inputs,
    the evidence and the signal (the hit with its ``risk``: :meth:`udfs.score.Scorer.hit`). Network
    windows' hits become rows here too (``NetworkHits``)."""

    def __init__(self, plan: CorrelationPlan, inventory: InventoryIndex, scorer: Scorer | None = None,
                 *, redact_signals: bool = True, baselines: bool = False) -> None:
        self.plan = plan
        self.baselines = baselines  # keys['~base']: what the JVM counts for the adaptive baselines (udfs.baseline)
        self.inventory = inventory
        self.scorer = scorer or Scorer(inventory)  # the signal's risk (docs/scoring.md)
        # Outputs carry the event redacted (udfs.redact: the log rules); the raw payload stays only in
        # the dead-letter output. --keep-raw-in-signals turns it off.
        self.outgoing = OutgoingEvent(redact_signals)

    def row(self, hit: dict[str, Any], event: dict[str, Any]) -> tuple[Any, ...]:
        risk = self.scorer.hit(hit)
        tags, keys = self.plan.tags(hit, risk)
        inv = self.inventory
        if self.baselines:
            host = self.scorer._host(hit.get("host"))
            base = baseline_keys(scope_of(host, inv.assets.get(host) if host else None), hit.get("techniques") or ())
            if base:
                keys[BASE_KEY] = base
        own = inv.host((event.get("host") or {}).get("name")) if own_host(event) else None
        src = bindable_ip((event.get("source") or {}).get("ip"))
        dst = bindable_ip((event.get("destination") or {}).get("ip"))
        user = event.get("user") or {}
        cloud = event.get("cloud") or {}
        idents = [user.get("id"), user.get("email"), user.get("name"), cloud.get("principal")]
        known = inv.user(*idents)
        name = user.get("name") or user.get("email") or cloud.get("principal")
        canon = canonical_user(name)
        principals = [f"principal:{i.strip().lower()}" for i in idents if i] if known is None else []
        principals += [None] * (4 - len(principals))
        # The reference's evidence entry, less what linking decides (host, user, the link's criticality).
        ev = evidence_of(hit)
        ev["crit"] = ev.pop("asset_criticality")
        del ev["host"], ev["user"]
        return (
            "hit", hit["timestamp_ms"], hit["hit_id"], None,
            hit["rule_id"], tags, keys,
            own, hit.get("host"), scalar(hit.get("host")), hit.get("user"), scalar(hit.get("user")),
            f"ip:{src}" if src else None, f"ip:{dst}" if dst else None,
            inv.host_of_ip.get(src) if src else None, inv.host_of_ip.get(dst) if dst else None,
            known, canon,
            bool(known and is_service_account(known)), bool(canon and is_service_account(canon)),
            *principals[:4],
            _json(ev), _json({**hit, "risk": risk, "event": self.outgoing(hit["event"])}),
        )


class OutgoingEvent:
    """The event as outputs carry it: redacted (:func:`udfs.redact.redact`) unless ``redact`` is off;
    an event's several hits share one redacted copy."""

    def __init__(self, redact: bool = True) -> None:
        self.redact = redact
        self.last: tuple[Any, Any] = (None, None)

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        if not self.redact:
            return event
        if self.last[0] is not event:
            self.last = (event, redact(event))
        return self.last[1]
