"""Rendering of /why, /retopic and /export corrections (SPEC 5.4) from plain data."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.i18n import Html, Translator
from bot.topic_review import RetopicProblem, RetopicRejected, Why
from bot.topics.matcher import Reason
from bot.topics.taxonomy import Taxonomy
from bot.ui.staff_views import split_message
from bot.ui.views import topic_label
from storage.corrections import Correction

MAX_TITLE = 300


def _label(taxonomy: Taxonomy, topic_id: str, language: str) -> str:
    topic = taxonomy.get(topic_id)
    return topic_label(topic, language) if topic else topic_id


def _reason(t: Translator, reason: Reason) -> Html:
    words = " + ".join(reason.words)
    if reason.rule:
        return t("review.why_rule", words=words, rule=reason.rule)
    if reason.gazetteer:
        return t("review.why_gazetteer", words=words, gazetteer=reason.gazetteer)
    return t("review.why_words", words=words)


def changes_text(added: tuple[str, ...], removed: tuple[str, ...]) -> str:
    return " ".join([*(f"+{a}" for a in added), *(f"−{r}" for r in removed)])


def _editor_states(history: list[Correction]) -> dict[str, str]:
    """The last thing editors did to each topic: "added" or "removed"."""
    state: dict[str, str] = {}
    for correction in history:
        state.update(dict.fromkeys(correction.added, "added"))
        state.update(dict.fromkeys(correction.removed, "removed"))
    return state


def why_text(t: Translator, why: Why, taxonomy: Taxonomy, timezone: str) -> list[Html]:
    article = why.article
    stored = set(article.topics)
    judged = {r.topic: r for r in why.judgement.reasons}
    editors = _editor_states(why.history)
    title = article.title if len(article.title) <= MAX_TITLE else article.title[:MAX_TITLE] + "…"
    lines: list[str] = [t("review.why_header", id=article.article_id, title=title), ""]
    lines.append(t("review.why_topics"))
    if not stored:
        lines.append(t("review.why_no_topics"))
    excluded: list[str] = []
    for topic in taxonomy.ids:
        label = _label(taxonomy, topic, t.language)
        if topic in stored:
            if editors.get(topic) == "added":
                reason = t("review.why_by_editor")
            elif topic in judged:
                reason = _reason(t, judged[topic])
            else:
                reason = t("review.why_stored_only")
            lines.append(t("review.why_reason", label=label, reason=reason))
            continue
        if editors.get(topic) == "removed":
            excluded.append(t("review.why_removed", label=label))
        elif topic in judged:
            excluded.append(
                t("review.why_would_assign", label=label, reason=_reason(t, judged[topic]))
            )
        else:
            # A veto says more than a phrase that cancelled one keyword: it comes first.
            found = [x for x in why.judgement.exclusions if x.topic == topic]
            found.sort(key=lambda x: x.rule is None)
            cancelled = found[0] if found else None
            if cancelled is not None and cancelled.rule:
                excluded.append(
                    t(
                        "review.why_vetoed",
                        label=label,
                        words=cancelled.words,
                        rule=cancelled.rule,
                        by=cancelled.by,
                    )
                )
            elif cancelled is not None:
                excluded.append(
                    t("review.why_cancelled", label=label, words=cancelled.words, by=cancelled.by)
                )
    if excluded:
        lines += ["", t("review.why_excluded"), *excluded]
    if why.history:
        zone = ZoneInfo(timezone)
        lines += ["", t("review.why_corrections")]
        for c in why.history:
            when = datetime.fromisoformat(c.corrected_at).astimezone(zone).strftime("%d.%m %H:%M")
            lines.append(
                t("review.why_correction", when=when, changes=changes_text(c.added, c.removed))
            )
    return split_message("\n".join(lines))


def topics_list(t: Translator, topics: tuple[str, ...]) -> str:
    return ", ".join(topics) if topics else t.plain("review.no_topics")


def retopic_text(
    t: Translator, article_id: int | None, result: Correction | RetopicRejected
) -> Html:
    if isinstance(result, RetopicRejected):
        match result.problem:
            case RetopicProblem.NOT_FOUND:
                return t("review.not_found", id=article_id)
            case RetopicProblem.NOT_A_CHANGE:
                return t("review.retopic_not_a_change", word=result.detail)
            case RetopicProblem.UNKNOWN_TOPIC:
                return t("review.retopic_unknown_topic", name=result.detail)
            case RetopicProblem.BOTH_WAYS:
                return t("review.retopic_both_ways", name=result.detail)
            case RetopicProblem.USAGE:
                return t("review.retopic_usage")
    topics = topics_list(t, result.after)
    if not result.added and not result.removed:
        return t("review.retopic_nothing", id=result.article_id, topics=topics)
    return t(
        "review.retopic_done",
        id=result.article_id,
        changes=changes_text(result.added, result.removed),
        topics=topics,
    )
