"""The synthetic city: realistic grid, call and video streams with known outcomes.

A made-up city in Gansu (region codes ``6299..``) with districts, subdistricts, communities,
grids and estates (``geography``), households of people with valid 身份证 numbers and phones,
key persons and frequent callers (``population``), dispute cases whose hidden risk process
makes 2–5 % of them escalate to a criminal case (民转刑) with noisy, overlapping precursors
(``cases``, ``texts``), background traffic (``noise``), and dirt: late records, duplicates and
malformed lines (``schedule``, ``corrupt``). ``writer`` puts it together.

API::

    cfg = SimConfig(days=30, seed=7, scale=1.0)
    for line in generate(cfg): ...            # JSON lines in arrival order (no newline)
    for entry in truth(cfg): ...              # ground-truth dicts (same run, same bytes)
    summary = write(cfg, "city.jsonl")        # + city.truth.jsonl; returns the summary dict
    for line, entry in simulate(cfg): ...     # both in one pass: (line, None) | (None, entry)

Output order: all registry records (``grid`` for every grid — the city's valid region codes
are exactly the grids' ``region_code`` —, ``key_person``, ``camera``, ``site``), then the
events and ``feedback`` records day by day in arrival order (late records are out of order
by hours; duplicates repeat an earlier line byte for byte). Cases begin up to 21 days before
the window, so it opens on disputes already under way; only their records inside the window
are written, and a case's ``started_at`` may precede the window.

Truth file (one JSON object a line, told apart by ``kind``):

- ``header``: ``format``, ``config`` (the SimConfig), ``city`` (counts of districts, grids,
  people, key persons, cameras, sites).
- ``registry``: ``record_ids`` of registry records (chunks of at most 1,000).
- ``case``: one per dispute case with at least one record in the window: ``case_id``,
  ``dispute_kind``, ``region_code``, ``address``, ``started_at``, ``record_ids`` (every event
  record of the case, a duplicated record's id once), ``feedback_record_ids``, ``escalates``
  (the escalation record is in the output), ``escalated_at`` (ISO time or null),
  ``escalation_record_id`` (the 110 ``violence`` call), ``escalates_later`` (it would
  escalate after the window ends), ``latent_risk`` (the hidden probability), ``style``
  (``escalating`` | ``silent`` | ``normal`` | ``hard_negative`` | ``frequent_contact``),
  ``factors`` (hidden risk factors: key_person_party, prior_grudge, repeat_pair, separation,
  weapon_access, unemployed, self_harm_history) and ``party_id_numbers``.
- ``noise``: ``day`` and ``record_ids`` of background events not in any case (chunked).
- ``late``: ``day`` (arrival day) and ``record_ids`` that arrived 1–12 h after their event time.
- ``duplicate``: ``day`` and ``record_ids`` of re-sent lines (one entry per extra copy).
- ``malformed``: ``line`` (1-based line number in the output), ``reason`` (the expected
  reject reason of ``streams.errors.REJECT_REASONS``), ``record_id`` (``""`` if unreadable),
  ``decodes`` (true only for ``unknown_region``: ``streams.codec.decode`` accepts it, the
  engine rejects it against the grid registry) and ``corrupts`` (the good record it copies).
- ``summary`` (last): counts of lines, records by kind, cases, escalations, noise, late,
  duplicates, malformed.

Every id of a good output line is in exactly one of: a case's ``record_ids``, a case's
``feedback_record_ids``, ``noise``, ``registry``, or a ``malformed`` entry that ``decodes``.
"""
from __future__ import annotations

from .config import SimConfig
from .writer import generate, simulate, truth, write

__all__ = ["SimConfig", "generate", "simulate", "truth", "write"]
