"""Is a topic or event type named as a fact or as a command? (EVENT_AS_COMMAND, docs/architecture.md#event-design-audit)

An event announces something that already happened, so its name carries a past-tense verb:
`OrderCreated`, `PaymentCaptured`, `ProfileUpdated`, `EnrollmentCompleted`,
`com.shop.payment.captured`. A name that *starts* with an imperative verb asks someone to
do something: `CreateInvoice`, `SendWelcomeEmail`, `UpdateReportingDatabase`,
`shop.send-welcome-email`.

The classifier is deliberately small and explainable:
1. split the name into words (dots, dashes, underscores, camelCase), dropping version
   tags (`v1`) and the words every name carries (`shop`, `events`, `topic`, …); dotted
   names are judged by their last meaningful segment, as hierarchical names put the
   specific part last;
2. ``fact`` when the last word is a past-tense verb (regular `-ed`, or a listed irregular
   form such as `sent`, `paid`, `built`);
3. ``command`` when the first word is a listed imperative verb (words that are as often
   nouns, such as *order*, *invoice*, *email*, are not on the list), or one of them again
   (`reissue`, `resubmit`, `reprocess`: `re` and a listed verb);
4. ``fact`` when any other word is past tense (`OrderShippedToCustomer`);
5. otherwise ``noun``: no verb at all (`orders`, `PaymentEvent`). A topic named for the
   entity it carries is normal; an event *type* naming no fact is reported at info.
"""

from __future__ import annotations

import re

IMPERATIVE = frozenset("""
activate add allocate apply approve archive assign authorize block book calculate cancel capture charge check
close collect compute confirm convert create deactivate debit decline delete deliver deny disable dispatch do
download emit enable encrypt enqueue ensure enroll execute expire export fetch fulfil fulfill generate get give
grant import increment insert invalidate invite issue load lock make migrate move notify open pay perform place
post print process provision publish purge push put rebuild recalculate recompute refresh refund register reindex
reject release reload remind remove rename render replace request reschedule resend reserve reset resolve restart
retry revoke run save schedule send set ship start stop submit subscribe suspend sync synchronize transfer
trigger unblock unlock unsubscribe update upload upsert validate verify void withdraw write
""".split())

IRREGULAR_PAST = frozenset("""
bought brought built caught chosen dealt done drawn fed fled forgiven forgotten found given gone got gotten held
hidden kept known laid left led lost made meant paid proven rebuilt redone resent ridden risen said sent shown
sold sought spent split stolen struck taken taught thought thrown told torn undone understood withdrawn won
worn written
""".split())

# words ending in -ed that are not past tense
_NOT_PAST = frozenset("bed bred embed feed hundred need red seed shed shred sled speed breed weed".split())
# words that say nothing about the name's meaning
_FILLER = frozenset("shop com org net io events event topic topics stream streams msg message messages "
                    "cmd command commands public internal private prod staging dev test".split())
_VERSION = re.compile(r"^v?\d+$", re.IGNORECASE)
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def words(name: str) -> list[str]:
    """The meaningful words of a name, lower-case (see module doc, step 1)."""
    segments = [s for s in re.split(r"[./:]", name) if s]
    for seg in reversed(segments):
        ws = [w.lower() for part in re.split(r"[-_\s]+", seg) for w in _CAMEL.findall(part)]
        ws = [w for w in ws if not _VERSION.match(w) and w not in _FILLER]
        if ws:
            return ws
    return []


def is_past(word: str) -> bool:
    if word in IRREGULAR_PAST:
        return True
    return len(word) > 3 and word.endswith("ed") and word not in _NOT_PAST


def is_imperative(word: str) -> bool:
    """A listed imperative verb, or one done again: `reissue`, `reprocess` (not `report`, `record`)."""
    return word in IMPERATIVE or (word.startswith("re") and word[2:] in IMPERATIVE)


def classify(name: str) -> tuple[str, str]:
    """('fact' | 'command' | 'noun', why) for a topic name or event type."""
    ws = words(name)
    if not ws:
        return "noun", "no words"
    if is_past(ws[-1]):
        return "fact", f"ends with the past-tense verb '{ws[-1]}'"
    if is_imperative(ws[0]):
        return "command", f"starts with the imperative verb '{ws[0]}'"
    past = [w for w in ws if is_past(w)]
    if past:
        return "fact", f"names a fact with '{past[0]}'"
    return "noun", "has no verb in the past tense"
