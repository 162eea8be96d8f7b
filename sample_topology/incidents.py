"""When each deliberate incident of the sample shop happens (docs/architecture.md#the-sample-shop).

Times scale with the scenario's length so that a shorter run still shows every incident;
the fulfillment stall is placed a fixed four minutes before the end (capped), so that the
group is still in trouble when the dashboard opens on the last minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sample_topology.ops import SEC

# Rule ids of docs/architecture.md#findings-and-rules each incident should raise.
RULES = {
    "long_sync_chain": "LONG_SYNC_CHAIN",
    "sync_side_effect": "SYNC_SIDE_EFFECT",
    "slow_consumer": "CONSUMER_LAG",
    "crash_loop": "REDELIVERY",
    "poison_message": "DEAD_LETTER",
    "connect_dead_letter": "DEAD_LETTER",
    "non_idempotent_consumer": "IDEMPOTENCY_VIOLATION",
    "absorbed_redelivery": "REDELIVERY",
    "duplicate_publish": "DUPLICATE_PUBLISH",
    "event_as_command": "EVENT_AS_COMMAND",
    "envelope_missing": "ENVELOPE_MISSING",
    "callback_chatter": "CALLBACK_CHATTER",
    "passive_aggressive_event": "PASSIVE_AGGRESSIVE_EVENT",
    "publish_before_commit": "PUBLISH_BEFORE_COMMIT",
    "phantom_event": "PHANTOM_EVENT",
    "request_reply_over_events": "REQUEST_REPLY_OVER_EVENTS",
    "out_of_order_processing": "OUT_OF_ORDER_PROCESSING",
    "unversioned_schema_change": "UNVERSIONED_SCHEMA_CHANGE",
}


@dataclass(frozen=True)
class Times:
    """Incident times in µs from the scenario's start."""
    duration: int
    sync_email_from: int
    sync_email_to: int
    poison_at: int
    invoicing_restart_at: int
    fulfillment_slow_from: int
    email_rebalance_at: int
    deep_chain_from: int
    duplicate_at: int
    crash_loop_from: int
    crash_backoffs: tuple[int, ...]
    oversize_at: int
    fulfillment_stuck_at: int

    @classmethod
    def for_duration(cls, duration: int) -> Times:
        def at(fraction: float) -> int:
            return int(duration * fraction)
        return cls(
            duration=duration,
            sync_email_from=at(0.20), sync_email_to=at(0.30),
            poison_at=at(0.30),
            invoicing_restart_at=at(0.35),
            fulfillment_slow_from=at(0.40),
            email_rebalance_at=at(0.45),
            deep_chain_from=at(0.50),
            duplicate_at=at(0.50),
            crash_loop_from=at(0.55),
            # CrashLoopBackOff: each restart waits twice as long
            crash_backoffs=(10 * SEC, 20 * SEC, 40 * SEC, 80 * SEC),
            oversize_at=at(0.60),
            fulfillment_stuck_at=max(duration - 240 * SEC, at(0.85)),
        )

    def crash_times(self) -> list[int]:
        """When the reporting consumer is OOM-killed: a minute of work between restarts."""
        out, t = [], self.crash_loop_from
        for backoff in self.crash_backoffs:
            if t >= self.duration - 10 * SEC:
                break
            out.append(t)
            t += backoff + 60 * SEC
        return out


# How many of the email instance's last processings lose their commit in the rebalance.
EMAIL_LOST_COMMITS = 3
# Attempts before Spring's DefaultErrorHandler hands the poison record to the DLT recoverer.
POISON_ATTEMPTS = 3
# Per-message time of the fulfillment consumer once orders-api's lookups turn slow.
FULFILLMENT_SLOW_SECONDS = (7.0, 11.0)
